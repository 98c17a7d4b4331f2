"""Structured logs: one JSON object per line, personal data redacted.

Log collectors (Loki, Elasticsearch, Cloud Logging) parse a JSON line without a grok pattern.
Context a reader filters on (complaint id, stage, OPD) travels as `extra=` fields:

    log.info("breach emitted", extra={"complaint_id": cid, "stage": "first_response", "opd": opd})

Citizens write phone numbers, NIKs and e-mail addresses into their posts; a log line may quote
text, so every string that leaves through this formatter is redacted first.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from typing import Any

import orjson

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}

CONTEXT_FIELDS = ("complaint_id", "stage", "opd", "kecamatan", "category", "topic", "partition", "offset",
                  "reason", "event_id")
"""Extra fields copied into the JSON object (ids of things, never post text or author)."""

# A NIK (Nomor Induk Kependudukan) is 16 digits; it goes first so the phone pattern cannot
# eat part of it. Indonesian mobile numbers: 08…, 628…, +62 8…, with optional separators.
_NIK = re.compile(r"(?<!\d)\d{16}(?!\d)")
_PHONE = re.compile(r"(?<![\w+])(?:\+62|62|0)[\s.-]?8\d(?:[\s.-]?\d){6,10}(?!\d)")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")

REDACTED_NIK = "[NIK]"
REDACTED_PHONE = "[PHONE]"
REDACTED_EMAIL = "[EMAIL]"


def redact(text: str) -> str:
    """Text with NIKs, phone numbers and e-mail addresses replaced by placeholders."""
    if not any(ch.isdigit() for ch in text) and "@" not in text:
        return text
    text = _EMAIL.sub(REDACTED_EMAIL, text)
    text = _NIK.sub(REDACTED_NIK, text)
    return _PHONE.sub(REDACTED_PHONE, text)


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    return redact(str(value))


class JsonFormatter(logging.Formatter):
    """A log record as one JSON line: time (RFC 3339, UTC), level, logger, message, context."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        for field in CONTEXT_FIELDS:
            value = record.__dict__.get(field)
            if value is not None:
                entry[field] = _redact_value(value)
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return orjson.dumps(entry).decode()


class RedactingTextFormatter(logging.Formatter):
    """The human format (`TANGGAP_LOG_FORMAT=text`), redacted like the JSON one."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def logging_config(level: str, fmt: str = "json") -> dict[str, Any]:
    """A `logging.config.dictConfig` for a worker (faust's Worker applies it): every record,
    faust's and aiokafka's included, goes through one redacting formatter to stderr."""
    if level not in LEVELS:
        raise ValueError(f"unknown log level {level!r}")
    formatter = {"()": JsonFormatter} if fmt == "json" else {"()": RedactingTextFormatter}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"tanggap": formatter},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "stream": sys.stderr, "formatter": "tanggap",
                                "level": LEVELS[level]}},
        "root": {"level": LEVELS[level], "handlers": ["stderr"]},
    }


def configure(level: str, fmt: str = "json") -> None:
    """The same configuration for processes that are not faust workers (the alert bridge)."""
    import logging.config

    logging.config.dictConfig(logging_config(level, fmt))
