"""The JSON Schemas in schemas/json are the contracts other teams read: they must be valid
draft-07, and the events the real pipeline functions emit must validate against them.

Events come from the same pure functions the stream runs (`tanggap triage`'s `triage_lines`,
`Triage.process`, `open_clock` + `sla_event`, `DeadLetter.to_json`), never from hand-written
dicts, so a change in an emitter that breaks its documented contract fails here. A second check
keeps the contract complete: every property an emitter writes must be documented in the schema
(the schemas allow unknown properties for forward compatibility, so validation alone would not
notice an undocumented field).
"""

from __future__ import annotations

import base64
import copy
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from jsonschema import Draft7Validator

import agents.intake
import agents.responses
import agents.sla
import agents.triage
from agents.domain.classify import KINDS, PRIORITIES
from agents.domain.config import TanggapConfig
from agents.domain.sla import STAGE_FIRST_RESPONSE, open_clock, record_response, sla_event
from agents.domain.triage import OFFICIAL_KIND, Triage, desk_response_event
from schemas import SCHEMA_NAMES, JsonSchemaError, load_schema, validator
from schemas.events import (
    BREACH_EVENT_TYPE_PREFIX,
    COMPLAINT_EVENT_TYPES,
    DEAD_LETTER_REASONS,
    PLATFORMS,
    DeadLetter,
    DeskResponse,
    PLAIN_POST_PROPERTIES,
    InvalidInput,
    RawPost,
    is_plain_raw_post,
    parse_time,
)
from streams.cli import read_jsonl, triage_lines

REPO = Path(__file__).resolve().parents[2]
SCHEMA_DIR = REPO / "schemas" / "json"
EMITTED = ("triage_record", "complaint_event", "breach_event", "dead_letter")
"""Schemas of the events the pipeline writes (raw_post and response are its inputs)."""

# One thread of each shape triage distinguishes, in arrival order. Handles of official accounts
# come from deploy/config/klaten/opd.toml.
POSTS: list[dict[str, Any]] = [
    # An opening complaint (road, named desa, addressed to the owner).
    {"platform": "twitter", "post_id": "1001", "created_at": "2026-11-02T07:12:00+07:00",
     "text": "Jalan di Desa Gergunung Klaten Utara rusak parah dan berlubang, sudah banyak yang jatuh. "
             "Mohon segera diperbaiki @dpuprklaten",
     "author": {"id": "u1", "handle": "warga_gergunung", "name": "Warga Gergunung"},
     "url": "https://x.com/warga_gergunung/status/1001", "addressed_to": ["dpuprklaten"], "lang": "id"},
    # A repost of it, and a citizen's reply to it.
    {"platform": "twitter", "post_id": "1002", "created_at": "2026-11-02T07:30:00+07:00",
     "text": "Jalan di Desa Gergunung Klaten Utara rusak parah dan berlubang, sudah banyak yang jatuh. "
             "Mohon segera diperbaiki @dpuprklaten",
     "author": {"id": "u2", "handle": "tetangga_gergunung"}, "repost_of": "1001"},
    {"platform": "twitter", "post_id": "1003", "created_at": "2026-11-02T07:45:00+07:00",
     "text": "Betul, kemarin motor saya juga jatuh di situ.",
     "author": {"id": "u3", "handle": "pengendara"}, "reply_to": "1001"},
    # The opening post delivered again.
    {"platform": "twitter", "post_id": "1001", "created_at": "2026-11-02T07:12:00+07:00",
     "text": "Jalan di Desa Gergunung Klaten Utara rusak parah dan berlubang, sudah banyak yang jatuh. "
             "Mohon segera diperbaiki @dpuprklaten",
     "author": {"id": "u1", "handle": "warga_gergunung", "name": "Warga Gergunung"},
     "url": "https://x.com/warga_gergunung/status/1001", "addressed_to": ["dpuprklaten"], "lang": "id"},
    # The owner's official reply (handle case differs from opd.toml on purpose).
    {"platform": "twitter", "post_id": "1004", "created_at": "2026-11-02T09:00:00+07:00",
     "text": "Terima kasih laporannya, tim kami segera meninjau lokasi.",
     "author": {"id": "dpupr", "handle": "DPUPRKlaten"}, "reply_to": "1001",
     "url": "https://x.com/DPUPRKlaten/status/1004"},
    # An official reply that arrives BEFORE the complaint it answers.
    {"platform": "instagram", "post_id": "2002", "created_at": "2026-11-02T10:05:00+07:00",
     "text": "Mohon maaf atas gangguannya, petugas kami menuju lokasi.",
     "author": {"id": "pdam", "handle": "pdam.tirtamerapi"}, "reply_to": "2001"},
    {"platform": "instagram", "post_id": "2001", "created_at": "2026-11-02T10:00:00+07:00",
     "text": "Air PDAM tidak mengalir sejak kemarin di Kecamatan Wedi, tolong dicek",
     "author": {"id": "u4", "handle": "ibu_wedi"}, "url": "https://instagram.com/p/2001"},
    # A repost that arrives before its original: it opens the complaint under the original's key.
    {"platform": "twitter", "post_id": "5002", "created_at": "2026-11-02T19:05:00+07:00",
     "text": "Lampu jalan mati total di Jalan Pemuda Klaten Tengah, gelap gulita, rawan kecelakaan.",
     "author": {"id": "u5", "handle": "penerus"}, "repost_of": "5001"},
    {"platform": "twitter", "post_id": "5001", "created_at": "2026-11-02T19:00:00+07:00",
     "text": "Lampu jalan mati total di Jalan Pemuda Klaten Tengah, gelap gulita, rawan kecelakaan.",
     "author": {"id": "u6", "handle": "warga_tengah"}},
    # A citizen's reply that arrives BEFORE the post it answers: it waits, then joins as a mention.
    {"platform": "tiktok", "post_id": "6002", "created_at": "2026-11-02T14:10:00+07:00",
     "text": "Sama di sini, gelap sekali.", "author": {"id": "u9", "handle": "tetangga_tiktok"}, "reply_to": "6001"},
    {"platform": "tiktok", "post_id": "6001", "created_at": "2026-11-02T14:00:00+07:00",
     "text": "Lampu jalan mati total di Kecamatan Bayat, gelap gulita, rawan kecelakaan.",
     "author": {"id": "u10", "handle": "warga_bayat"}},
    # A WhatsApp complaint: no handle, no URL.
    {"platform": "whatsapp", "post_id": "wa-77", "created_at": "2026-11-02T13:00:00+07:00",
     "text": "Sampah menumpuk dan bau busuk di pasar, belum diangkut seminggu", "author": {"id": "9f2c1e"}},
    # A political post, a spam post, an official post that answers nothing, an official reply
    # to a post that opened no complaint.
    {"platform": "facebook", "post_id": "3001", "created_at": "2026-11-02T11:00:00+07:00",
     "text": "Ayo dukung paslon nomor urut 2, coblos nomor 2 di pilkada!", "author": {"id": "u7"}},
    {"platform": "tiktok", "post_id": "4001", "created_at": "2026-11-02T12:00:00+07:00",
     "text": "Slot gacor maxwin hari ini, link di bio", "author": {"id": "u8", "handle": "promo88"}},
    {"platform": "twitter", "post_id": "1005", "created_at": "2026-11-02T06:00:00+07:00",
     "text": "Selamat pagi warga Klaten, jangan lupa sarapan.", "author": {"id": "kominfo", "handle": "pemkabklaten"}},
    {"platform": "facebook", "post_id": "3002", "created_at": "2026-11-02T11:30:00+07:00",
     "text": "Mohon tidak berkampanye di kolom komentar.", "author": {"id": "dishub", "handle": "dishubklaten"},
     "reply_to": "3001"},
]

# Outcomes that follow from the thread structure, whatever the lexicon says about the text.
STRUCTURAL_OUTCOMES = {
    ("twitter:1002", "mention"), ("twitter:1003", "mention"), ("twitter:1001", "redelivery"),
    ("twitter:1004", "response"), ("instagram:2002", "response_pending"), ("instagram:2002", "response"),
    ("twitter:5001", "mention"), ("twitter:1005", "ignored"), ("facebook:3002", "ignored"),
    ("tiktok:6002", "reply_pending"), ("tiktok:6002", "mention"),
}


# --- fixtures -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def posts_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("posts") / "posts.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(post) for post in POSTS) + b"\n")
    return path


@pytest.fixture(scope="module")
def triage_records(config, posts_file) -> list[dict[str, Any]]:
    return list(triage_lines(config, read_jsonl(posts_file)))


@pytest.fixture(scope="module")
def complaint_events(config, posts_file) -> list[dict[str, Any]]:
    """Complaint events from Triage.process over a dict state (as the batch CLI keeps it), plus
    the events built from desk responses: by the complaint's first post and by complaint id."""
    triage = Triage(config)
    state: dict[str, dict[str, Any]] = {}
    events: list[dict[str, Any]] = []
    for _, line in read_jsonl(posts_file):
        result = triage.process(RawPost.parse(line), state)
        state.update(result.state_updates)
        events.extend(result.complaint_events)
    by_post = DeskResponse.parse({"by": "pdam", "kind": "resolved", "at": "2026-11-03T10:00:00+07:00",
                                  "post": {"platform": "instagram", "post_id": "2001"}, "channel": "phone"})
    resolved = triage.respond_by_post(by_post, state)
    assert resolved is not None, "the desk response names a post that opened a complaint"
    events.append(resolved)
    opened_id = next(e["complaint_id"] for e in events if e["type"] == "opened")
    by_id = DeskResponse.parse({"by": "dpupr", "kind": "first_response", "at": "2026-11-02T15:00:00+07:00",
                                "complaint_id": opened_id})
    events.append(desk_response_event(by_id, {"complaint_id": by_id.complaint_id}, config.timezone))
    return events


@pytest.fixture(scope="module")
def breach_events(config, complaint_events) -> list[dict[str, Any]]:
    """For every opened complaint: the breach the timer emits when the deadline passes
    unanswered, and the one emitted when a late first response arrives (as agents/sla.py)."""
    source = f"tanggap/{config.regency_id}"
    events = []
    for opened in (e for e in complaint_events if e["type"] == "opened"):
        clock = open_clock(opened, config.sla)
        assert clock is not None, f"an SLA policy applies to {opened['complaint_id']}"
        now = clock.deadline + 3600.0
        events.append(sla_event(clock, STAGE_FIRST_RESPONSE, "breached", emitted_at=now, due_at=clock.deadline,
                                policies=config.sla, source=source, tz=config.timezone))
        answered = copy.deepcopy(clock)
        at = clock.deadline + 7 * 3600.0
        response = record_response(answered, at, "dpupr", config.sla)
        assert response is not None and response.late
        events.append(sla_event(answered, STAGE_FIRST_RESPONSE, "breached", emitted_at=at, due_at=answered.deadline,
                                policies=config.sla, source=source, tz=config.timezone))
    return events


def _failed_inputs() -> Iterator[tuple[str, str, InvalidInput]]:
    """(stage, raw value, the InvalidInput the real parser raised)."""
    bad_posts = [
        b"\xff\xfe not utf-8",
        b"[1, 2]",
        b'{"platform": "twitter", "post_id": "1"}',
        b'{"platform": "twitter", "post_id": "1", "text": "x", "created_at": "2026-11-02T07:12:00", "author": {"id": "u"}}',
        b'{"platform": "twitter", "post_id": "1", "text": "x", "created_at": "2026-11-02T07:12:60+07:00", "author": {"id": "u"}}',
    ]
    for raw in bad_posts:
        try:
            RawPost.parse(raw)
        except InvalidInput as exc:
            yield "intake", raw, exc
    try:
        DeskResponse.parse(b'{"by": "dpupr", "kind": "called", "at": "2026-11-02T07:12:00+07:00"}')
    except InvalidInput as exc:
        yield "responses", b"", exc


@pytest.fixture(scope="module")
def dead_letters() -> list[dict[str, Any]]:
    letters = []
    for offset, (stage, raw, exc) in enumerate(_failed_inputs()):
        letters.append(DeadLetter(reason=exc.reason, detail=exc.detail, topic="tanggap.posts.raw", partition=2,
                                  offset=offset, key=b"twitter:1", value=raw, stage=stage, at=1793578320.0).to_json())
    # Non-UTF-8 key and value; a detail longer than the cap; no partition/offset; the clock not started.
    letters.append(DeadLetter(reason="processing_error", detail="KeyError: " + "x" * 5000, topic="tanggap.complaints",
                              partition=None, offset=None, key=b"\x80\x81cmp", value=b"\xc3\x28\x00\xff",
                              stage="sla").to_json())
    letters.append(DeadLetter(reason="invalid_json", detail="empty message value", topic="tanggap.posts.threads",
                              partition=0, offset=0, key=None, value=None, stage="triage", at=1793578320.5).to_json())
    letters.append(DeadLetter(reason="unknown_reference", detail="`by` is not an OPD in the directory: 'x'",
                              topic="tanggap.responses", partition=1, offset=9, key=None,
                              value='{"by": "x", "post": "é"}'.encode(), stage="responses").to_json())
    return letters


# --- helpers ------------------------------------------------------------------------------------

def _validate(name: str, event: dict[str, Any]) -> None:
    try:
        validator(name)(event)
    except JsonSchemaError as exc:
        pytest.fail(f"{name}: {exc.message}\n{json.dumps(event, indent=1, ensure_ascii=False)}")


def _object_schemas(schema: dict[str, Any], root: dict[str, Any]) -> list[dict[str, Any]]:
    """The object-typed alternatives of a (sub)schema, following local $refs and oneOf."""
    if "$ref" in schema:
        target: Any = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        return _object_schemas(target, root)
    if "oneOf" in schema:
        return [s for option in schema["oneOf"] for s in _object_schemas(option, root)]
    return [schema] if "properties" in schema else []


def _undocumented(value: Any, schema: dict[str, Any], root: dict[str, Any], path: str = "") -> list[str]:
    """Paths of properties the emitter wrote that the schema does not document."""
    found: list[str] = []
    if isinstance(value, dict):
        for option in _object_schemas(schema, root):
            properties = option["properties"]
            for key, item in value.items():
                if key not in properties:
                    found.append(f"{path}.{key}")
                else:
                    found.extend(_undocumented(item, properties[key], root, f"{path}.{key}"))
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            found.extend(_undocumented(item, schema["items"], root, f"{path}[{i}]"))
    return found


def _check(name: str, events: list[dict[str, Any]]) -> None:
    assert events, f"no {name} events were produced"
    schema = load_schema(name)
    for event in events:
        _validate(name, event)
        assert _undocumented(event, schema, schema) == [], f"{name}: undocumented fields in {event}"


def _properties(schema: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every property definition in a schema, at any depth, with its path."""
    def walk(node: Any, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
        if isinstance(node, dict):
            for key, child in node.get("properties", {}).items():
                yield f"{path}.{key}", child
                yield from walk(child, f"{path}.{key}")
            for key in ("items", "definitions", "oneOf"):
                sub = node.get(key)
                if isinstance(sub, dict):
                    for k, v in (sub.items() if key == "definitions" else [("", sub)]):
                        yield from walk(v, f"{path}/{key}{'/' + k if k else ''}")
                elif isinstance(sub, list):
                    for i, v in enumerate(sub):
                        yield from walk(v, f"{path}/{key}[{i}]")
    return walk(schema, "")


def _enum(name: str, *path: str) -> list[Any]:
    node: Any = load_schema(name)
    for key in path:
        node = node[key]
    return node["enum"]


# --- the schema files themselves ----------------------------------------------------------------

def test_schema_files_are_exactly_the_listed_contracts():
    assert sorted(p.name.removesuffix(".schema.json") for p in SCHEMA_DIR.glob("*.json")) == sorted(SCHEMA_NAMES)


@pytest.mark.parametrize("path", sorted(SCHEMA_DIR.glob("*.json")), ids=lambda p: p.name)
def test_schema_file_is_valid_draft7(path: Path):
    schema = json.loads(path.read_text("utf-8"))
    assert "draft-07" in schema["$schema"]
    assert schema["$id"].endswith(f"/{path.name}")
    Draft7Validator.check_schema(schema)


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_schema_compiles_with_fastjsonschema(name: str):
    assert callable(validator(name))


@pytest.mark.parametrize("name", EMITTED)
def test_emitted_schema_documents_every_property(name: str):
    schema = load_schema(name)
    assert schema.get("additionalProperties") is True, "emitted events allow unknown top-level properties"
    assert "forward compatibility" in schema["description"], "the schema says why unknown properties are allowed"
    assert set(schema["required"]) == set(schema["properties"]), "every top-level property is always written"
    for path, prop in _properties(schema):
        description = prop.get("description", "")
        assert description.strip(), f"{name}{path} has no description"
        assert "\n" not in description, f"{name}{path}: description must be one line"


# --- the schemas agree with the Python constants they mirror -------------------------------------

def test_enums_match_the_code():
    assert _enum("raw_post", "properties", "platform") == list(PLATFORMS)
    assert _enum("triage_record", "properties", "platform") == list(PLATFORMS)
    assert _enum("triage_record", "properties", "kind") == [*KINDS, OFFICIAL_KIND, None]
    assert _enum("triage_record", "properties", "priority") == [*PRIORITIES, None]
    assert _enum("complaint_event", "properties", "type") == list(COMPLAINT_EVENT_TYPES)
    assert _enum("complaint_event", "properties", "kind") == [*KINDS, None]
    assert _enum("complaint_event", "properties", "priority") == [*PRIORITIES, None]
    assert _enum("complaint_event", "definitions", "post_ref", "properties", "platform") == list(PLATFORMS)
    assert _enum("breach_event", "properties", "data", "properties", "priority") == [*PRIORITIES, None]
    assert _enum("breach_event", "properties", "data", "properties", "platform") == [*PLATFORMS, None]
    pattern = load_schema("breach_event")["properties"]["type"]["pattern"]
    assert re.match(pattern, BREACH_EVENT_TYPE_PREFIX + "breached")
    stages = {agents.intake.STAGE, agents.triage.STAGE, agents.responses.STAGE, agents.sla.STAGE}
    assert set(_enum("dead_letter", "properties", "stage")) == stages


def test_every_dead_letter_reason_the_code_raises_is_documented():
    raised = set()
    for package in ("agents", "schemas", "streams"):
        for path in (REPO / package).rglob("*.py"):
            raised.update(re.findall(r'InvalidInput\(\s*"(\w+)"', path.read_text("utf-8")))
    documented = set(_enum("dead_letter", "properties", "reason"))
    assert raised, "the scan found the InvalidInput reasons"
    assert raised | set(DEAD_LETTER_REASONS) | {"processing_error"} <= documented


# --- real events validate -----------------------------------------------------------------------

def test_triage_records_validate(triage_records):
    _check("triage_record", triage_records)
    produced = {(r["post_key"], r["outcome"]) for r in triage_records}
    assert STRUCTURAL_OUTCOMES <= produced
    assert {r["outcome"] for r in triage_records} == set(_enum("triage_record", "properties", "outcome"))
    assert {"politik", "spam", OFFICIAL_KIND} <= {r["kind"] for r in triage_records if r["outcome"] == "ignored"}
    assert {r["duplicate_via"] for r in triage_records} >= {"repost_of", "reply_to", "reposted_before_original",
                                                            "redelivery"}
    # The late reply's final record supersedes its pending one under the same post key.
    pending = [r for r in triage_records if r["post_key"] == "instagram:2002"]
    assert [r["outcome"] for r in pending] == ["response_pending", "response"]
    assert pending[1]["complaint_id"] and pending[0]["event_id"] != pending[1]["event_id"]


def test_complaint_events_validate(complaint_events):
    _check("complaint_event", complaint_events)
    assert {e["type"] for e in complaint_events} == {"opened", "duplicate_attached", "responded", "resolved"}
    # Null-heavy shapes are covered: a post without handle or URL, a desk response by id only.
    assert any(e["post"] and e["post"]["url"] is None and e["post"]["author_handle"] is None for e in complaint_events)
    assert any(e["first_post"] is None and e["mentions"] is None for e in complaint_events)


def test_breach_events_validate(breach_events):
    _check("breach_event", breach_events)
    for event in breach_events:
        assert event["type"] == BREACH_EVENT_TYPE_PREFIX + event["data"]["level"]
        assert event["subject"] == event["data"]["complaint_id"]
        assert parse_time(event["time"]) == parse_time(event["data"]["emitted"])
    assert any(e["data"]["responded_at"] is None for e in breach_events)
    assert any(e["data"]["responded_at"] is not None for e in breach_events)
    assert any(e["data"]["post_urls"] == [] for e in breach_events)


def test_dead_letters_validate(dead_letters):
    _check("dead_letter", dead_letters)
    reasons = {letter["reason"] for letter in dead_letters}
    assert {"invalid_json", "not_an_object", "schema_violation", "bad_timestamp"} <= reasons
    binary = next(d for d in dead_letters if d["source"]["topic"] == "tanggap.complaints")
    assert binary["key_text"] is None and binary["value_text"] is None
    assert base64.b64decode(binary["value_base64"]) == b"\xc3\x28\x00\xff"
    assert any(len(d["detail"]) == 2000 for d in dead_letters)


def test_unknown_top_level_properties_are_accepted(triage_records, complaint_events, breach_events, dead_letters):
    for name, event in (("triage_record", triage_records[0]), ("complaint_event", complaint_events[0]),
                        ("breach_event", breach_events[0]), ("dead_letter", dead_letters[0])):
        validator(name)({**event, "added_in_a_later_version": {"any": "thing"}})


# --- broken events are rejected -----------------------------------------------------------------

@pytest.fixture(scope="module")
def samples(triage_records, complaint_events, breach_events, dead_letters) -> dict[str, dict[str, Any]]:
    return {"triage_record": triage_records[0], "complaint_event": complaint_events[0],
            "breach_event": breach_events[0], "dead_letter": dead_letters[0]}


@pytest.mark.parametrize(("name", "field"), [(n, f) for n in EMITTED for f in load_schema(n)["required"]])
def test_missing_required_field_is_rejected(samples, name: str, field: str):
    event = copy.deepcopy(samples[name])
    del event[field]
    with pytest.raises(JsonSchemaError):
        validator(name)(event)


@pytest.mark.parametrize(("name", "path"), [
    ("breach_event", ("data", "deadline")),
    ("breach_event", ("data", "responded_at")),
    ("complaint_event", ("first_post", "created_at")),
    ("dead_letter", ("source", "offset")),
])
def test_missing_nested_required_field_is_rejected(samples, name: str, path: tuple[str, ...]):
    event = copy.deepcopy(samples[name])
    parent = event
    for key in path[:-1]:
        parent = parent[key]
    del parent[path[-1]]
    with pytest.raises(JsonSchemaError):
        validator(name)(event)


@pytest.mark.parametrize(("name", "changes"), [
    ("triage_record", {"outcome": "invalid"}),  # `tanggap triage` prints these for bad lines; never published
    ("triage_record", {"created_at": "2026-11-02 07:12"}),
    ("triage_record", {"kind": "komplain"}),
    ("complaint_event", {"type": "reopened"}),
    ("complaint_event", {"mentions": "1"}),
    ("breach_event", {"specversion": "0.3"}),
    ("breach_event", {"type": "id.tanggap.breached"}),
    ("breach_event", {"datacontenttype": "text/plain"}),
    ("dead_letter", {"reason": "oops"}),
    ("dead_letter", {"detail": "x" * 2001}),
    ("dead_letter", {"value_base64": "not base64!"}),
])
def test_wrong_values_are_rejected(samples, name: str, changes: dict[str, Any]):
    with pytest.raises(JsonSchemaError):
        validator(name)({**samples[name], **changes})


# --- known contract bugs in the emitters (pinned until fixed; strict, so a fix turns them red) --

def test_dead_letter_reasons_constant_lists_every_reason():
    assert set(DEAD_LETTER_REASONS) == set(_enum("dead_letter", "properties", "reason"))


def _triage(config: TanggapConfig, posts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return list(triage_lines(config, enumerate((orjson.dumps(p) for p in posts), start=1)))


PRAISE = {"platform": "instagram", "post_id": "7001", "created_at": "2026-11-02T10:00:00+07:00",
          "text": "Terima kasih PDAM, pelayanan mantap", "author": {"id": "u9", "handle": "ibu_wedi"}}
EARLY_REPLY = {"platform": "instagram", "post_id": "7002", "created_at": "2026-11-02T10:05:00+07:00",
               "text": "Sama-sama, terima kasih.", "author": {"id": "pdam", "handle": "pdam.tirtamerapi"},
               "reply_to": "7001"}


def test_pending_reply_to_a_post_that_opens_no_complaint_is_finalized(config):
    records = _triage(config, [EARLY_REPLY, PRAISE])
    assert [r["outcome"] for r in records if r["post_key"] == "instagram:7002"] == ["response_pending", "ignored"]


def test_redelivered_official_reply_repeats_its_decision(config):
    *_, again = _triage(config, [POSTS[0], POSTS[4], POSTS[4]])
    original = next(r for r in _triage(config, [POSTS[0], POSTS[4]]) if r["post_key"] == "twitter:1004")
    assert again["outcome"] == "redelivery"
    assert (again["opd"], again["complaint_id"]) == (original["opd"], original["complaint_id"])


def test_producers_key_a_post_by_the_thread_key_triage_decides_it_under():
    from schemas.events import RawPost, message_key

    base = {"platform": "twitter", "post_id": "9", "text": "jalan rusak", "created_at": "2026-11-02T08:00:00+07:00",
            "author": {"id": "a", "handle": "warga", "name": None}}
    for extra in ({}, {"reply_to": "7"}, {"repost_of": "5"}, {"repost_of": "5", "reply_to": "7"}):
        value = {**base, **extra}
        assert message_key(value) == RawPost.parse(value).thread_key.encode()


# --- the direct check of raw posts ----------------------------------------------------------------

PLAIN_POST = {"platform": "twitter", "post_id": "9", "text": "jalan rusak", "created_at": "2026-11-02T08:00:00+07:00",
              "author": {"id": "a", "handle": "warga", "name": None}, "url": None, "reply_to": "7", "repost_of": None,
              "addressed_to": ["dpuprklaten"], "geo": {"lat": -7.7}, "lang": "id", "unknown": [1]}
POST_VALUES = (None, True, 0, 1.5, "", "x", "a\x01", "a\x7f", "a\u2028", "x" * 257, "x" * 20001, [], ["a"], ["a", 1],
               {}, {"id": "u"}, {"id": ""}, {"id": 1}, {"id": "u", "handle": 3}, {"id": "u", "name": None},
               "twitter", "myspace", "2026-11-02T10:00:00+07:00", "2026-02-30T10:00:00+07:00",
               "2026-11-02 10:00:00+07:00", "2026-11-02T10:00:00", "2026-11-02T10:00:00.5z", "2026-11-02t10:00:00+0700",
               "2026-11-02T24:00:00Z", "2028-02-29T10:00:00Z")


def test_the_direct_check_of_raw_posts_covers_every_property_of_the_schema():
    from schemas.events import _DATE_TIME

    schema = load_schema("raw_post")
    assert set(schema["properties"]) == set(PLAIN_POST_PROPERTIES)
    assert validator("raw_post").__globals__["REGEX_PATTERNS"]["date-time_re_pattern"].pattern == _DATE_TIME.pattern


@pytest.mark.parametrize("key", PLAIN_POST_PROPERTIES)
def test_the_direct_check_of_raw_posts_agrees_with_the_schema(key: str):
    """A post the direct check accepts skips the compiled schema, so it must accept only what
    the schema accepts; it decides every value a JSON decoder gives the same way."""
    assert is_plain_raw_post(PLAIN_POST)
    for value in (*POST_VALUES, "missing"):
        post = copy.deepcopy(PLAIN_POST)
        if value == "missing":
            del post[key]
        else:
            post[key] = copy.deepcopy(value)
        try:
            validator("raw_post")(post)
            valid = True
        except JsonSchemaError:
            valid = False
        assert is_plain_raw_post(post) == valid, (key, value)
    assert not is_plain_raw_post({**PLAIN_POST, "addressed_to": ("a",)}), "not a JSON decoder's type: the schema decides"


def test_invalid_posts_are_rejected_with_the_schema_message_either_way():
    post = {**PLAIN_POST, "created_at": "2026-02-30T10:00:00+07:00"}
    with pytest.raises(InvalidInput) as raised:
        RawPost.parse(post)
    assert raised.value.reason == "schema_violation" and "created_at must be date-time" in raised.value.detail
