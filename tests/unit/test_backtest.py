"""`tanggap backtest`: event-time SLA figures from the stream's own domain code."""

from __future__ import annotations

import orjson
import pytest

from streams import backtest
from streams.cli import main, read_jsonl
from streams.demo import bundled_sample
from tests.conftest import copy_config


def post(post_id: str, text: str, at: str, *, handle: str = "warga", reply_to: str | None = None) -> bytes:
    return orjson.dumps({"platform": "twitter", "post_id": post_id, "text": text, "created_at": at,
                         "author": {"id": f"u-{handle}", "handle": handle, "name": None},
                         "reply_to": reply_to, "repost_of": None, "addressed_to": [], "lang": "id"})


COMPLAINT = "Lampu PJU di jalan Desa Jogoprayan kecamatan Gantiwarno mati total sudah seminggu, gelap dan rawan"


def numbered(values: list[bytes]):
    return list(enumerate(values, start=1))


def totals(run: backtest.Run) -> dict:
    return next(row for row in run.rows() if row["opd"] == backtest.ALL)


def test_a_complaint_never_answered_breaches_when_its_deadline_passes_in_event_time(config):
    posts = numbered([post("1", COMPLAINT, "2026-11-02T08:00:00+07:00"),
                      post("2", "Selamat pagi semua", "2026-11-05T08:00:00+07:00", handle="lain")])
    run = backtest.run(config, backtest.parse_inputs(posts, ()))
    row = totals(run)
    assert (row["complaints"], row["answered"], row["breached"], row["open"]) == (1, 0, 1, 0)
    # The clock stops at the first post: its deadline has not passed yet.
    early = backtest.run(config, backtest.parse_inputs(posts[:1], ()))
    assert (totals(early)["breached"], totals(early)["open"]) == (0, 1)
    assert totals(backtest.run(config, backtest.parse_inputs(posts[:1], ()), until=backtest.UNTIL_END))["breached"] == 1


def test_a_desk_response_by_post_answers_in_time_and_its_latency_is_reported(config):
    posts = numbered([post("1", COMPLAINT, "2026-11-02T08:00:00+07:00")])
    responses = numbered([orjson.dumps({"post": {"platform": "twitter", "post_id": "1"}, "by": "dishub",
                                        "kind": "first_response", "at": "2026-11-02T09:30:00+07:00"})])
    run = backtest.run(config, backtest.parse_inputs(posts, responses), until=backtest.UNTIL_END)
    row = totals(run)
    assert (row["answered"], row["answered_in_time"], row["breached"]) == (1, 1, 0)
    assert row["latency_wall_p50"] == row["latency_wall_p90"] == 5400.0
    assert row["latency_working_p50"] == 5400.0  # Monday 08:00-09:30 is working time


def test_the_same_inputs_give_the_same_report_byte_for_byte(config):
    lines = list(read_jsonl(bundled_sample()))
    documents = []
    for _ in range(2):
        inputs = backtest.parse_inputs(iter(lines), ())
        run = backtest.run(config, inputs, until=backtest.UNTIL_END)
        document = backtest.report([run], inputs, posts_path="sample", responses_path=None, until="end", tz=config.timezone)
        documents.append(orjson.dumps(document, option=orjson.OPT_SORT_KEYS) + backtest.to_csv(document).encode())
    assert documents[0] == documents[1]


def test_compare_shows_what_a_tighter_policy_would_have_done(tmp_path, capsys):
    tighter = copy_config(tmp_path)
    sla = tighter / "sla.toml"
    sla.write_text(sla.read_text().replace('first_response = { hours = 24, clock = "24x7" }',
                                           'first_response = { hours = 2, clock = "24x7" }'))
    out = tmp_path / "report"
    assert main(["backtest", str(bundled_sample()), "--compare", str(tighter), "--until", "end", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "complaints A/B" in printed
    document = orjson.loads((tmp_path / "report.json").read_bytes())
    base, other = ({(r["opd"], r["category"]): r for r in run["rows"]} for run in document["runs"])
    everything = (backtest.ALL, backtest.ALL)
    assert base[everything]["complaints"] == other[everything]["complaints"]
    assert other[everything]["breached"] > base[everything]["breached"]
    csv_lines = (tmp_path / "report.csv").read_text().splitlines()
    assert csv_lines[0].split(",")[:4] == ["config", "opd", "category", "complaints"]
    assert len(csv_lines) == 1 + len(base) + len(other)


def test_backtest_reads_archives(tmp_path, capsys):
    from tests.archives import write_tweet_harvest

    expected = write_tweet_harvest(tmp_path / "harvest.csv")
    assert main(["backtest", "--format", "tweet-harvest", str(expected.path), "--out", str(tmp_path / "r")]) == 0
    document = orjson.loads((tmp_path / "r.json").read_bytes())
    assert document["posts"]["read"] == len(expected.good)
    assert "bad rows" in capsys.readouterr().err


def test_until_must_be_end_or_an_instant():
    assert backtest.parse_until("end") == "end"
    assert backtest.parse_until("2026-11-05T00:00:00+07:00") == pytest.approx(1793811600.0)
    with pytest.raises(ValueError):
        backtest.parse_until("tomorrow")


def test_until_end_emits_what_a_horizon_past_every_deadline_emits(config):
    lines = list(read_jsonl(bundled_sample()))
    inputs = backtest.parse_inputs(iter(lines), ())
    end = backtest.run(config, inputs, until=backtest.UNTIL_END)
    far = backtest.run(config, inputs, until=backtest.parse_until("2030-01-01T00:00:00+07:00"))
    assert end.clocks.sla_events == far.clocks.sla_events > 0
    assert end.rows() == far.rows()
    assert {cid: state.stages for cid, state in end.clocks.clocks.items()} == \
        {cid: state.stages for cid, state in far.clocks.clocks.items()}


def test_the_collector_is_as_it_was_after_a_backtest(config):
    import gc

    inputs = backtest.parse_inputs(read_jsonl(bundled_sample()), ())
    assert gc.isenabled()
    backtest.run(config, inputs).rows()
    assert gc.isenabled()
    gc.disable()
    try:
        backtest.run(config, inputs)
        assert not gc.isenabled()
    finally:
        gc.enable()
