"""The Klaviyo connector: dialect, flow translation and API client (each part but the dialect
imported at its first use: a compile needs only the dialect)."""

from mailwright.dialect import Connector, Deferred
from mailwright.project import MAPPING
from mailwright.reference import lazy

from .dialect import KlaviyoDialect

connector = Connector(name="klaviyo", label="Klaviyo", dialect=KlaviyoDialect,
                      flows=Deferred(f"{__name__}.flows", "KlaviyoFlows"),
                      client=Deferred(f"{__name__}.client", "KlaviyoPush"),
                      config={"events": MAPPING, "properties": MAPPING},
                      reference=lazy(f"{__name__}.reference"), diagram=Deferred(f"{__name__}.diagram", "diagram"),
                      events=Deferred(f"{__name__}.events", "KlaviyoEvents"))
