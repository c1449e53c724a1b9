"""Fake Klaviyo, HubSpot and ActiveCampaign servers for the push tests.

Each is a real HTTP server on 127.0.0.1 (a port the OS picks) that checks the
credential, validates requests like its vendor, keeps objects in memory, pages small
and records every request::

    from tests.fakes import KlaviyoFake

    with KlaviyoFake("pk_test", page_size=2) as fake:
        env = {"KLAVIYO_API_KEY": "pk_test", "KLAVIYO_BASE_URL": fake.url}
        ...
        fake.inject("429", method="POST", path_prefix="/api/flows")
        assert fake.writes() == []

Common constructor options: ``page_size`` (2), ``retry_after`` (seconds a 429 asks for, 1),
``slow_seconds`` (0.5), ``check_responses`` (validate the fake's own answers against the vendored
spec and list what breaks it in ``fake.response_errors``; Klaviyo and ActiveCampaign; off).
"""

from .activecampaign import ActiveCampaignFake
from .base import FakeServer, Recorded
from .hubspot import HubSpotFake
from .klaviyo import KlaviyoFake

__all__ = ["ActiveCampaignFake", "FakeServer", "HubSpotFake", "KlaviyoFake", "Recorded"]
