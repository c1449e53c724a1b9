"""``mailwright check``: the CI gate over what a project sends (docs/check.md).

Compiles the project, then checks every template × trigger × ESP, and every variant (sample recipients from
:func:`mailwright.variants.derive` that reach each branch), against the rules of ``registry.RULES``: client
support (the caniemail dataset), accessibility, contrast, Gmail's clipping size, subject, preheader and
plain-text part, links and example data. Each finding points into the designer's own file: the template, the
component or the theme that wrote the construct.
"""

from .clients import caniemail, client_keys
from .command import command
from .findings import Report
from .registry import RULES, Rule
from .runner import check_project, run_check
from .settings import DEFAULT_CLIENTS, Settings, load_settings

__all__ = ["DEFAULT_CLIENTS", "RULES", "Report", "Rule", "Settings", "caniemail", "check_project", "client_keys",
           "command", "load_settings", "run_check"]
