"""The ActiveCampaign connector: %TAG% dialect, automation recipes and API client."""

from mailwright.dialect import Connector

from .dialect import ActiveCampaignDialect
from .flows import ActiveCampaignFlows

connector = Connector(name="activecampaign", label="ActiveCampaign", dialect=ActiveCampaignDialect,
                      flows=ActiveCampaignFlows)
