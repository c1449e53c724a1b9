"""The ActiveCampaign connector: %TAG% dialect, automation recipes and API client."""

from mailwright.dialect import Connector

from .client import ActiveCampaignPush
from .dialect import ActiveCampaignDialect
from .flows import ActiveCampaignFlows

connector = Connector(name="activecampaign", label="ActiveCampaign", dialect=ActiveCampaignDialect,
                      flows=ActiveCampaignFlows, client=ActiveCampaignPush)
