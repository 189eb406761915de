"""Structured logging: one JSON object a line on stderr, each with the worker name."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

# The LogRecord attribute that carries a line's fields (set by log_fields).
_FIELDS = "fields"


def log_fields(logger: logging.Logger, level: int, msg: str, /, *, exc_info: bool = False,
               **fields: Any) -> None:
    """Log `msg` with `fields` as keys of the JSON line, e.g.
    log_fields(log, logging.INFO, "ready", batch_max=8)."""
    # stacklevel=2: the record names the caller, not this helper.
    logger.log(level, msg, exc_info=exc_info, extra={_FIELDS: fields}, stacklevel=2)


class JsonFormatter(logging.Formatter):
    def __init__(self, worker: str) -> None:
        super().__init__()
        self.worker = worker

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "worker": self.worker,
            "msg": record.getMessage(),
        }
        fields = getattr(record, _FIELDS, None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def setup_logging(level: str, worker: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(worker))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # nats-py logs reconnect noise at debug; keep third-party chatter at warning.
    for name in ("nats", "asyncio", "absl", "tensorflow", "h5py"):
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
