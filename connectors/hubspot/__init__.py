"""The HubSpot connector: HubL dialect, flow translation and API client."""

from mailwright.dialect import Connector

from .client import HubSpotPush
from .dialect import HubSpotDialect
from .flows import HubSpotFlows

connector = Connector(name="hubspot", label="HubSpot", dialect=HubSpotDialect, flows=HubSpotFlows, client=HubSpotPush)
