"""The HubSpot connector: HubL dialect, flow translation and API client."""

from mailwright.dialect import Connector
from mailwright.project import MAPPING
from mailwright.reference import lazy

from .client import HubSpotPush
from .diagram import diagram
from .dialect import HubSpotDialect
from .events import HubSpotEvents
from .flows import HubSpotFlows

connector = Connector(name="hubspot", label="HubSpot", dialect=HubSpotDialect, flows=HubSpotFlows, client=HubSpotPush,
                      config={"events": MAPPING, "properties": MAPPING},
                      reference=lazy(f"{__name__}.reference"), diagram=diagram, events=HubSpotEvents)
