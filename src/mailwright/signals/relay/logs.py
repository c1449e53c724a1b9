"""Structured logs: one JSON object per line on stderr (never a credential: callers log names and counts)."""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any, TextIO


class Log:
    def __init__(self, stream: TextIO | None = None):
        self.stream = stream
        self._lock = threading.Lock()

    def __call__(self, event: str, level: str = "info", **fields: Any) -> None:
        line = json.dumps({"ts": round(time.time(), 3), "level": level, "event": event, **fields}, default=str)
        with self._lock:
            stream = self.stream or sys.stderr
            stream.write(line + "\n")
            stream.flush()
