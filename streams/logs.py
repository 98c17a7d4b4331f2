"""Structured logs: one JSON object per line, personal data redacted.

Log collectors (Loki, Elasticsearch, Cloud Logging) parse a JSON line without a grok pattern.
Context a reader filters on (complaint id, stage, OPD) travels as `extra=` fields:

    log.info("breach emitted", extra={"complaint_id": cid, "stage": "first_response", "opd": opd})

Citizens write phone numbers, NIKs and e-mail addresses into their posts; a log line may quote
text, so every string that leaves through this formatter is redacted first. Credentials are
redacted too (bearer tokens, Authorization values, query strings, where `hub.verify_token`
travels), and aiohttp's reports of malformed HTTP requests, which quote the request's bytes
(headers with their tokens, bodies with their posts), are logged without those bytes
(`HttpRequestFilter`). Every process configures logging here (`configure`, or faust's Worker
with `logging_config`), so every logger (Tanggap's, faust's, aiokafka's, aiohttp's) goes
through the same handler.
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

# A NIK (Nomor Induk Kependudukan) is 16 digits, written run together or in groups ("3310 0112
# 3456 0001", "33.10.01.123456.0001"); it goes first so the phone pattern cannot eat part of it.
# Digits of a decimal number (a digit and a point or comma on either side) are never a NIK.
# Indonesian mobile numbers: 08…, 628…, +62 8…, with optional separators.
_NIK = re.compile(r"(?<!\d)(?<!\d[.,])\d(?:[ .-]?\d){15}(?!\d)(?![.,]\d)")
_PHONE = re.compile(r"(?<![\w+])(?:\+62|62|0)[\s.-]?8\d(?:[\s.-]?\d){6,10}(?!\d)")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")

_BEARER = re.compile(r"(?i)\b(bearer|basic)(\s+)[^\s'\",;]+")
_AUTHORIZATION = re.compile(r"(?i)\b(authorization[\"']?\s*[:=]\s*[\"']?)[^\r\n'\",}]+")
_QUERY = re.compile(r"\?[^\s'\"?#=&]+=[^\s'\"#]*")
_SECRET_PARAMETER = re.compile(r"(?i)\b(hub\.verify_token|verify_token|access_token|token|password)=[^&\s'\"]*")

REDACTED_NIK = "[NIK]"
REDACTED_PHONE = "[PHONE]"
REDACTED_EMAIL = "[EMAIL]"


def redact(text: str) -> str:
    """Text with credentials (bearer tokens, Authorization values, query strings), NIKs, phone
    numbers and e-mail addresses replaced by placeholders."""
    if "=" in text or "earer" in text or "asic" in text or "uthorization" in text:
        text = _AUTHORIZATION.sub(r"\1[REDACTED]", text)
        text = _BEARER.sub(r"\1\2[TOKEN]", text)
        text = _QUERY.sub("?[QUERY]", text)
        text = _SECRET_PARAMETER.sub(r"\1=[REDACTED]", text)
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


class HttpRequestFilter(logging.Filter):
    """aiohttp reports a malformed request (a control character in a header, a header over 8 KB,
    a body longer than its Content-Length read as the next request) with an exception that
    quotes the offending bytes: a bearer token, a query string, a citizen's post. The record
    keeps the exception's type and status code and loses the bytes. aiokafka's debug lines
    quote message keys and values; they become byte counts."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("aiokafka") and isinstance(record.args, tuple) \
                and any(isinstance(arg, (bytes, bytearray)) for arg in record.args):
            # aiokafka's debug lines quote message keys and values: a post.
            record.args = tuple(f"<{len(arg)} bytes>" if isinstance(arg, (bytes, bytearray)) else arg
                                for arg in record.args)
        if record.exc_info and record.name.startswith("aiohttp"):
            exc = record.exc_info[1]
            try:
                from aiohttp.http_exceptions import HttpProcessingError
            except ImportError:  # pragma: no cover (aiohttp is a dependency)
                return True
            if isinstance(exc, HttpProcessingError):
                record.msg = "malformed HTTP request refused: %s (status %s); its bytes are not logged"
                record.args = (type(exc).__name__, getattr(exc, "code", "?"))
                record.exc_info = None
                record.exc_text = None
        return True


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
        "filters": {"http_requests": {"()": HttpRequestFilter}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "stream": sys.stderr, "formatter": "tanggap",
                                "level": LEVELS[level], "filters": ["http_requests"]}},
        "root": {"level": LEVELS[level], "handlers": ["stderr"]},
    }


def configure(level: str, fmt: str = "json") -> None:
    """The same configuration for processes that are not faust workers (the alert bridge, the
    ingest server)."""
    import logging.config

    logging.config.dictConfig(logging_config(level, fmt))
