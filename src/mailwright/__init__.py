"""mailwright: one MJML template with send-time tags, compiled for every ESP."""

__version__ = "0.1.0"
