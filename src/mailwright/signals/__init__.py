"""Signals: derived properties, intent score and tier, derived triggers (spec signals.md)."""
