"""`tanggap replay --format`'s conversion (streams.ingest.adapt_lines) and the ingest settings,
without a broker."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from streams.ingest import adapt_lines, parse_body, validate
from streams.settings import SETTINGS, Settings, SettingsError, effective_value
from schemas.events import InvalidInput

PAYLOADS = Path(__file__).resolve().parents[1] / "data" / "platform_payloads"


def numbered(*lines: bytes):
    return list(enumerate(lines, start=1))


def test_replay_lines_convert_native_payloads_and_report_bad_lines_by_number():
    settings = Settings.from_env({"TANGGAP_INGEST_WHATSAPP_HASH_KEY": "k"})
    whatsapp = orjson.dumps(orjson.loads((PAYLOADS / "whatsapp_messages.json").read_bytes()))
    messages, problems, skipped = adapt_lines(numbered(whatsapp, b"{not json", b'{"object": "page"}'), "whatsapp", settings)
    assert len(messages) == 4 and all(key.startswith(b"whatsapp:wamid-") for key, _ in messages)
    assert problems[0].startswith("line 2: invalid_json") and problems[1].startswith("line 3: unrecognized_payload")
    assert skipped == {"reaction": 1, "status_update": 1, "unsupported_type": 1}
    assert all(b"6281234567890" not in value for _, value in messages)


def test_export_bodies_may_be_json_lines_and_batches_validate_item_by_item():
    lines = (PAYLOADS / "tiktok_comments.jsonl").read_bytes()
    assert len(parse_body(lines, "tiktok")) == 4
    with pytest.raises(InvalidInput):
        parse_body(lines, "raw")
    accepted, rejected, messages = validate([{"platform": "web"}, "x"])
    assert accepted == [] and [r["reason"] for r in rejected] == ["schema_violation", "not_an_object"]


def test_secrets_are_masked_and_account_maps_validated():
    env = {"TANGGAP_INGEST_TOKENS": "s3cret", "TANGGAP_INGEST_ACCOUNTS": "123=@pemkabklaten"}
    shown = {s.env: effective_value(s, env) for s in SETTINGS}
    assert shown["TANGGAP_INGEST_TOKENS"] == "(set, hidden)"
    assert shown["TANGGAP_INGEST_META_APP_SECRET"] == "(empty)"
    assert Settings.from_env(env).ingest_accounts == {"123": "pemkabklaten"}
    with pytest.raises(SettingsError, match="TANGGAP_INGEST_ACCOUNTS"):
        Settings.from_env({"TANGGAP_INGEST_ACCOUNTS": "pemkabklaten"})
