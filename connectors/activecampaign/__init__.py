"""The ActiveCampaign connector: %TAG% dialect, automation recipes and API client (each part but the
dialect imported at its first use: a compile needs only the dialect)."""

from mailwright.dialect import Connector, Deferred
from mailwright.project import MAPPING, TEXT, TEXTS
from mailwright.reference import lazy

from .dialect import ActiveCampaignDialect

connector = Connector(name="activecampaign", label="ActiveCampaign", dialect=ActiveCampaignDialect,
                      flows=Deferred(f"{__name__}.flows", "ActiveCampaignFlows"),
                      client=Deferred(f"{__name__}.client", "ActiveCampaignPush"),
                      config={"events": MAPPING, "fields": MAPPING, "tags": TEXTS, "from_name": TEXT,
                              "from_email": TEXT, "reply_to": TEXT},
                      reference=lazy(f"{__name__}.reference"), diagram=Deferred(f"{__name__}.diagram", "diagram"),
                      events=Deferred(f"{__name__}.events", "ActiveCampaignEvents"))
