"""The ActiveCampaign connector: %TAG% dialect, automation recipes and API client."""

from mailwright.dialect import Connector
from mailwright.project import MAPPING, TEXT, TEXTS
from mailwright.reference import lazy

from .client import ActiveCampaignPush
from .diagram import diagram
from .dialect import ActiveCampaignDialect
from .events import ActiveCampaignEvents
from .flows import ActiveCampaignFlows

connector = Connector(name="activecampaign", label="ActiveCampaign", dialect=ActiveCampaignDialect,
                      flows=ActiveCampaignFlows, client=ActiveCampaignPush,
                      config={"events": MAPPING, "fields": MAPPING, "tags": TEXTS, "from_name": TEXT,
                                  "from_email": TEXT, "reply_to": TEXT},
                      reference=lazy(f"{__name__}.reference"), diagram=diagram, events=ActiveCampaignEvents)
