"""Structured logging configured once per process, with the request id of the current request."""

from __future__ import annotations

import contextvars
import logging
import logging.handlers
import sys
from pathlib import Path

from pythonjsonlogger.json import JsonFormatter

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

_configured = False


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


def configure_logging(*, service: str, level: str = "INFO", json_output: bool = True,
                      log_file: Path | None = None, log_file_bytes: int = 10 * 1024 * 1024,
                      log_file_count: int = 3) -> None:
    """stderr always (the platform and containers collect it); with ``log_file`` also a rotating file
    (a volume in compose, e.g. orchestration-logs), same format."""
    global _configured
    root = logging.getLogger()
    root.setLevel(level.upper())
    if _configured:
        return
    formatter: logging.Formatter
    if json_output:
        formatter = JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            rename_fields={"asctime": "ts", "levelname": "level", "name": "logger"},
            static_fields={"service": service},
        )
    else:
        formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.handlers.RotatingFileHandler(log_file, maxBytes=log_file_bytes,
                                                             backupCount=log_file_count, encoding="utf-8"))
    # Prefect configures the root logger with its console handler when it is imported (the orchestration
    # engine imports it): the service logs once, in its own format
    for existing in list(root.handlers):
        if type(existing).__module__.startswith("prefect."):
            root.removeHandler(existing)
    for handler in handlers:
        handler.addFilter(_RequestIdFilter())
        handler.setFormatter(formatter)
        root.addHandler(handler)
    _configured = True
