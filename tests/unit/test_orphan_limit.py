"""The bound on replies waiting for a missing post (Triage(max_waiting_replies=...),
TANGGAP_MAX_WAITING_REPLIES): a flood of replies to a post that never arrives keeps at most the
limit in the `orphans` entry, and every reply beyond it is decided at once, never dropped."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.domain.dedupe import complaint_id_for
from agents.domain.triage import OFFICIAL_KIND, Triage
from streams.settings import SETTINGS, Settings, SettingsError
from tests.unit.test_triage import COMPLAINT_TEXT, Desk, official_handle, post

README = Path(__file__).resolve().parents[2] / "README.md"
MISSING_PARENT = "twitter:7000"


def citizen_reply(number: int, text: str = COMPLAINT_TEXT) -> object:
    return post(str(7000 + number), text, handle=f"warga_{number}", reply_to="7000",
                at=f"2026-11-06T15:{number % 60:02d}:00+07:00")


def test_a_flood_of_replies_to_a_missing_post_keeps_only_the_limit_waiting(config):
    desk = Desk(Triage(config, max_waiting_replies=3))
    results = desk.feed_all([citizen_reply(n) for n in range(1, 51)])
    assert [r.record["outcome"] for r in results[:3]] == ["reply_pending"] * 3
    assert len(desk.orphans[MISSING_PARENT]) == 3
    for result in results[3:]:
        assert result.record["outcome"] == "opened"
        assert f"too_many_waiting_replies[{MISSING_PARENT}]" in result.record["reasons"]
        assert result.record["complaint_id"] == complaint_id_for(result.record["post_key"])
        assert MISSING_PARENT not in result.orphan_updates
    # Nothing dropped: every reply has a decision, and the waiting ones are still waiting.
    assert len(desk.final_records()) == 50


def test_a_reply_beyond_the_limit_is_decided_on_its_own_even_when_no_complaint(config):
    desk = Desk(Triage(config, max_waiting_replies=1))
    desk.feed(citizen_reply(1))
    chatter = desk.feed(citizen_reply(2, text="Setuju sekali, terima kasih infonya."))
    assert chatter.record["outcome"] != "reply_pending"
    assert f"too_many_waiting_replies[{MISSING_PARENT}]" in chatter.record["reasons"]
    assert chatter.record["post_key"] in desk.state


def test_when_the_post_arrives_the_waiting_replies_join_it_and_the_overflow_keeps_its_decision(config):
    desk = Desk(Triage(config, max_waiting_replies=2))
    first, second, third = (citizen_reply(n) for n in (1, 2, 3))
    desk.feed_all([first, second, third])
    overflow = desk.final_records()[third.key]
    arrived = desk.feed(post("7000", COMPLAINT_TEXT))
    assert {r["post_key"]: r["outcome"] for r in arrived.late_records} == {first.key: "mention", second.key: "mention"}
    assert desk.orphans == {}
    assert desk.final_records()[third.key] == overflow
    assert desk.state[MISSING_PARENT].mentions == 3  # the post itself and the two replies that waited


def test_a_redelivered_waiting_reply_does_not_count_twice(config):
    desk = Desk(Triage(config, max_waiting_replies=2))
    first, second = citizen_reply(1), citizen_reply(2)
    desk.feed_all([first, second])
    again = desk.feed(second)
    assert again.record["outcome"] == "reply_pending"
    assert [p["key"] for p in desk.orphans[MISSING_PARENT]] == [first.key, second.key]


def test_official_replies_wait_beyond_the_limit_and_stop_the_clock_when_the_post_arrives(config):
    desk = Desk(Triage(config, max_waiting_replies=2))
    desk.feed_all([citizen_reply(n) for n in range(1, 6)])
    handle = official_handle(config, config.category_owner["jalan"])
    answer = post("7100", "Terima kasih laporannya, tim kami segera menuju lokasi.", handle=handle,
                  reply_to="7000", at="2026-11-06T16:30:00+07:00")
    pending = desk.feed(answer)
    assert pending.record["outcome"] == "response_pending"
    assert pending.record["kind"] == OFFICIAL_KIND
    assert len(desk.orphans[MISSING_PARENT]) == 3
    arrived = desk.feed(post("7000", COMPLAINT_TEXT))
    assert "responded" in [e["type"] for e in arrived.complaint_events]


def test_the_limit_defaults_to_100_and_must_be_positive(config):
    assert Triage(config).max_waiting_replies == 100
    with pytest.raises(ValueError, match="max_waiting_replies"):
        Triage(config, max_waiting_replies=0)


def test_the_setting_is_documented_parsed_and_validated():
    [setting] = [s for s in SETTINGS if s.env == "TANGGAP_MAX_WAITING_REPLIES"]
    assert setting.default == "100"
    assert "`TANGGAP_MAX_WAITING_REPLIES` | `100`" in README.read_text(encoding="utf-8")
    assert Settings.from_env({}).max_waiting_replies == 100
    assert Settings.from_env({"TANGGAP_MAX_WAITING_REPLIES": "25"}).max_waiting_replies == 25
    for bad in ("0", "-3", "2.5", "many"):
        with pytest.raises(SettingsError, match="TANGGAP_MAX_WAITING_REPLIES"):
            Settings.from_env({"TANGGAP_MAX_WAITING_REPLIES": bad})
