"""The reference renderers (Django for Klaviyo, Jinja2 for HubL, the %IF% evaluator) live in the
package, since the preview uses them too; the tests import them from here."""

from mailwright.reference import (  # noqa: F401
    RENDERERS,
    ac_fields,
    render_activecampaign,
    render_hubspot,
    render_klaviyo,
    visible_text,
)
