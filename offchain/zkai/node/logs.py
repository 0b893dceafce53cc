"""Structured logs of the node service: one JSON object per line on stderr.

Every record carries `ts` (unix seconds), `level`, `logger` and `event`; the node's code adds fields
with `log_event(logger, "share.submitted", query_id=..., tx_hash=...)`. Records from other libraries
(Celery's own messages) become `{"event": "log", "message": ...}`. Secrets (passphrases, keys,
share payloads) are never passed to a log call.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

_FIELDS = "zkai_fields"


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON line."""

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = getattr(record, _FIELDS, None) or {}
        entry: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        if fields:
            entry.update(fields)
        else:
            entry["event"] = "log"
            entry["message"] = record.getMessage()
        if record.exc_info and record.exc_info[0] is not None:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, separators=(",", ":"))


def configure_logging(level: int = logging.INFO) -> None:
    """Send every log record of this process to stderr as JSON lines (idempotent)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "zkai_json", False):
            return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.zkai_json = True  # type: ignore[attr-defined]
    root.handlers = [handler]
    root.setLevel(level)


def log_event(
    logger: logging.Logger, event: str, *, level: int = logging.INFO, **fields: Any
) -> None:
    """Log one structured event with its fields."""
    logger.log(level, event, extra={_FIELDS: {"event": event, **fields}})
