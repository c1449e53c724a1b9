"""The HubSpot connector: HubL dialect, flow translation and API client."""

from mailwright.dialect import Connector

from .dialect import HubSpotDialect

connector = Connector(name="hubspot", label="HubSpot", dialect=HubSpotDialect)
