"""Vendored parts of Klaviyo's and ActiveCampaign's OpenAPI documents (see SOURCE.md) and their extractor."""
