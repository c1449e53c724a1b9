"""The reference renderers (Django for Klaviyo, Jinja2 for HubL, the %IF% evaluator) live in their
connectors, since the preview uses them too; the tests import them from here."""

from mailwright_connectors.activecampaign.reference import ac_fields  # noqa: F401
from mailwright_connectors.activecampaign.reference import render as render_activecampaign  # noqa: F401
from mailwright_connectors.hubspot.reference import render as render_hubspot  # noqa: F401
from mailwright_connectors.klaviyo.reference import render as render_klaviyo  # noqa: F401

from mailwright.reference import renderers, visible_text  # noqa: F401

RENDERERS = renderers()
