"""The Klaviyo connector: dialect, flow translation and API client."""

from mailwright.dialect import Connector
from mailwright.project import MAPPING
from mailwright.reference import lazy

from .client import KlaviyoPush
from .diagram import diagram
from .dialect import KlaviyoDialect
from .events import KlaviyoEvents
from .flows import KlaviyoFlows

connector = Connector(name="klaviyo", label="Klaviyo", dialect=KlaviyoDialect, flows=KlaviyoFlows, client=KlaviyoPush,
                      config={"events": MAPPING, "properties": MAPPING},
                      reference=lazy(f"{__name__}.reference"), diagram=diagram, events=KlaviyoEvents)
