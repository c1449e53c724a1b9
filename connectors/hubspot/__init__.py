"""The HubSpot connector: HubL dialect, flow translation and API client (each part but the dialect
imported at its first use: a compile needs only the dialect)."""

from mailwright.dialect import Connector, Deferred
from mailwright.project import MAPPING
from mailwright.reference import lazy

from .dialect import HubSpotDialect

connector = Connector(name="hubspot", label="HubSpot", dialect=HubSpotDialect,
                      flows=Deferred(f"{__name__}.flows", "HubSpotFlows"),
                      client=Deferred(f"{__name__}.client", "HubSpotPush"),
                      config={"events": MAPPING, "properties": MAPPING},
                      reference=lazy(f"{__name__}.reference"), diagram=Deferred(f"{__name__}.diagram", "diagram"),
                      events=Deferred(f"{__name__}.events", "HubSpotEvents"))
