"""Structured logs: one JSON object per line, with context fields and personal data redacted."""

from __future__ import annotations

import io
import logging
import logging.config

import orjson
import pytest

from streams.logs import JsonFormatter, logging_config, redact


@pytest.mark.parametrize("text, expected", [
    ("telp 081234567890 ya", "telp [PHONE] ya"),
    ("WA +62 812-3456-7890 pak", "WA [PHONE] pak"),
    ("hub 6281234567890.", "hub [PHONE]."),
    ("0812 3456 789", "[PHONE]"),
    ("NIK 3310012345670001 an. Budi", "NIK [NIK] an. Budi"),
    ("kirim ke warga.wedi@gmail.com", "kirim ke [EMAIL]"),
    ("jalan rusak 3 km di km 12", "jalan rusak 3 km di km 12"),
    ("RT 02 RW 05, tahun 2026, jam 07.30", "RT 02 RW 05, tahun 2026, jam 07.30"),
    ("@dpuprklaten tolong", "@dpuprklaten tolong"),
])
def test_redact_hides_phone_numbers_nik_and_email_and_keeps_other_text(text, expected):
    assert redact(text) == expected


def record(message: str, *args, exc_info=None, **extra) -> logging.LogRecord:
    log_record = logging.LogRecord("tanggap.sla", logging.WARNING, __file__, 1, message, args, exc_info)
    log_record.__dict__.update(extra)
    return log_record


def test_a_record_is_one_json_line_with_level_logger_message_and_context():
    line = JsonFormatter().format(record("breach emitted after %d s", 42, complaint_id="c-1a2b", stage="first_response",
                                         opd="dpupr", unrelated="dropped"))
    assert "\n" not in line
    entry = orjson.loads(line)
    assert entry["level"] == "warning" and entry["logger"] == "tanggap.sla"
    assert entry["message"] == "breach emitted after 42 s"
    assert (entry["complaint_id"], entry["stage"], entry["opd"]) == ("c-1a2b", "first_response", "dpupr")
    assert "unrelated" not in entry
    assert entry["time"].endswith("Z")


def test_messages_arguments_context_and_tracebacks_are_redacted():
    try:
        raise ValueError("bad post from budi@example.org")
    except ValueError:
        import sys
        info = sys.exc_info()
    line = JsonFormatter().format(record("post %s", "hubungi 081234567890", exc_info=info, reason="NIK 3310012345670001"))
    assert "081234567890" not in line and "budi@example.org" not in line and "3310012345670001" not in line
    entry = orjson.loads(line)
    assert entry["message"] == "post hubungi [PHONE]"
    assert entry["reason"] == "NIK [NIK]"
    assert "[EMAIL]" in entry["exception"]


def test_logging_config_sets_the_level_and_routes_every_logger_through_the_formatter(monkeypatch):
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    config = logging_config("warning")
    config["handlers"]["stderr"]["stream"] = stream
    logging.config.dictConfig(config)
    try:
        logging.getLogger("aiokafka").info("hidden at warning level")
        logging.getLogger("faust").warning("rebalance, call 081234567890")
    finally:
        logging.config.dictConfig({"version": 1, "disable_existing_loggers": False,
                                   "root": {"level": logging.WARNING, "handlers": []}})
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    assert orjson.loads(lines[0])["message"] == "rebalance, call [PHONE]"


def test_an_unknown_level_is_refused():
    with pytest.raises(ValueError):
        logging_config("verbose")


@pytest.mark.parametrize("text, expected", [
    ("NIK 3310 0112 3456 0001 an. Budi", "NIK [NIK] an. Budi"),
    ("NIK 33.10.01.123456.0001", "NIK [NIK]"),
    ("NIK 3310-0112-3456-0001.", "NIK [NIK]."),
    ("ratio 0.1234567890123456 ok", "ratio 0.1234567890123456 ok"),
    ("amount 1234567890123456.75", "amount 1234567890123456.75"),
    ("koma 12,3456789012345678", "koma 12,3456789012345678"),
    ("b'Authorization: Bearer tok-123\\x01'", "b'Authorization: [REDACTED]'"),
    ("header Bearer abc.def-ghi was refused", "header Bearer [TOKEN] was refused"),
    ("GET /ingest/meta?hub.mode=subscribe&hub.verify_token=s3cr3t HTTP/1.1", "GET /ingest/meta?[QUERY] HTTP/1.1"),
    ("hub.verify_token=s3cr3t&x=1", "hub.verify_token=[REDACTED]&x=1"),
    ("apa? ini = itu", "apa? ini = itu"),
])
def test_redact_hides_credentials_and_nik_written_in_groups_but_never_decimals(text, expected):
    assert redact(text) == expected


def test_aiohttp_reports_of_malformed_requests_lose_the_request_bytes():
    from aiohttp.http_exceptions import BadHttpMessage

    stream = io.StringIO()
    config = logging_config("info", "json")
    config["handlers"]["stderr"]["stream"] = stream
    logging.config.dictConfig(config)
    try:
        raise BadHttpMessage("Invalid header value char:\n\n    b'X-Post: {\"text\": \"hubungi saya\"}'")
    except BadHttpMessage:
        logging.getLogger("aiohttp.server").exception("Error handling request")
    line = stream.getvalue()
    assert "hubungi" not in line and "X-Post" not in line
    entry = orjson.loads(line.splitlines()[-1])
    assert entry["logger"] == "aiohttp.server" and "BadHttpMessage" in entry["message"] and "exception" not in entry
