"""The Klaviyo connector: dialect, flow translation and API client."""

from mailwright.dialect import Connector

from .dialect import KlaviyoDialect

connector = Connector(name="klaviyo", label="Klaviyo", dialect=KlaviyoDialect)
