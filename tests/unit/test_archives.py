"""Archive import: dates, column maps, and the files tests/archives.py writes triaged end to end."""

from __future__ import annotations

import orjson
import pytest

from streams import archives
from streams.archives import ArchiveReport, MapError, parse_archive_time, parse_map, read_archive
from streams.cli import main, triage_lines
from tests.archives import DESK_MAP, legacy_time, write_all


@pytest.mark.parametrize("value, expected", [
    ("Sun Aug 31 23:42:30 +0000 2025", "2025-08-31T23:42:30+00:00"),
    ("Mon Nov 02 00:12:00 +0700 2026", "2026-11-02T00:12:00+07:00"),
    ("31/08/2025 23:42", "2025-08-31T23:42:00+07:00"),  # WIB unless a zone is given
    ("1/9/2025 6:42", "2025-09-01T06:42:00+07:00"),
    ("31/08/2025 23:42:05", "2025-08-31T23:42:05+07:00"),
    ("31/08/2025 23:42 WITA", "2025-08-31T23:42:00+08:00"),
    ("31/08/2025 23:42 WIT", "2025-08-31T23:42:00+09:00"),
    ("31/08/2025 23:42 +0000", "2025-08-31T23:42:00+00:00"),
    ("31/08/2025 23:42 UTC+07:00", "2025-08-31T23:42:00+07:00"),
    ("31/08/2025 23:42 Asia/Makassar", "2025-08-31T23:42:00+08:00"),
    ("2025-08-31T23:42:30Z", "2025-08-31T23:42:30+00:00"),
    ("2025-08-31T23:42:30+07:00", "2025-08-31T23:42:30+07:00"),
    ("2025-08-31 23:42", "2025-08-31T23:42:00+07:00"),
    ("1756683750", "2025-08-31T23:42:30+00:00"),
    (1756683750000, "2025-08-31T23:42:30+00:00"),
])
def test_archive_times(value, expected):
    assert parse_archive_time(value) == expected


def test_a_given_default_zone_replaces_wib():
    assert parse_archive_time("31/08/2025 23:42", archives.zone("WITA")) == "2025-08-31T23:42:00+08:00"
    assert parse_archive_time("31/08/2025 23:42", archives.zone("UTC")) == "2025-08-31T23:42:00+00:00"


@pytest.mark.parametrize("value", ["kemarin sore", "31/02/2026 10:00", "02/11/2026 25:61", "Sun Aug 32 23:42:30 +0000 2025",
                                   "Sun Foo 31 23:42:30 +0000 2025", "31/08/2025 23:42 XYZ", "", None, "2025-31-08"])
def test_unreadable_times_raise(value):
    with pytest.raises(ValueError):
        parse_archive_time(value)


def test_legacy_time_round_trip():
    assert parse_archive_time(legacy_time("2026-11-02T07:12:00+07:00")) == "2026-11-02T00:12:00+00:00"


def test_column_maps():
    custom = parse_map("text=full_text,post_id=id_str|id,author_id=user", "csv")
    assert custom.fields["text"] == ("full_text",) and custom.fields["post_id"] == ("id_str", "id")
    assert custom.fields["author.id"] == ("user",)
    assert custom.fields["created_at"] == ("created_at",)  # unmapped fields keep their own names
    harvest = parse_map("tweet-harvest,lang=bahasa", "csv")
    assert harvest.fields["lang"] == ("bahasa",) and harvest.fields["text"] == ("full_text",)
    assert harvest.platform == "twitter"
    assert parse_map(None, "x-v1.1").fields["text"][0] == "extended_tweet.full_text"
    with pytest.raises(MapError):
        parse_map("txet=full_text", "csv")
    with pytest.raises(MapError):
        parse_map("x-v1.1", "csv")  # a JSON map on a CSV
    with pytest.raises(MapError):
        parse_map("no-such-map", "csv")


def test_x_v11_fields(tmp_path):
    tweet = {"created_at": "Sun Aug 31 23:42:30 +0000 2025", "id": 1962012345678901234, "id_str": "1962012345678901234",
             "text": "@dpuprklaten jalan di Wedi rusak…", "truncated": True,
             "extended_tweet": {"full_text": "@dpuprklaten jalan di Wedi rusak parah, tolong diperbaiki"},
             "in_reply_to_status_id_str": "1962000000000000001",
             "entities": {"user_mentions": [{"screen_name": "dpuprklaten"}]},
             "user": {"id_str": "81734", "screen_name": "warga_wedi", "name": "Warga Wedi"}, "lang": "in"}
    path = tmp_path / "t.jsonl"
    path.write_bytes(orjson.dumps(tweet) + b"\n")
    report = ArchiveReport()
    [(row, post)] = list(read_archive(path, "x-v1.1", parse_map(None, "x-v1.1"), report))
    assert row == 1 and report.good == 1 and not report.bad
    assert post["text"].endswith("tolong diperbaiki")
    assert post["created_at"] == "2025-08-31T23:42:30+00:00"
    assert post["author"] == {"id": "81734", "handle": "warga_wedi", "name": "Warga Wedi"}
    assert post["reply_to"] == "1962000000000000001" and post["addressed_to"] == ["dpuprklaten"]
    assert post["url"] == "https://x.com/warga_wedi/status/1962012345678901234"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return write_all(tmp_path_factory.mktemp("archives"))


@pytest.mark.parametrize("name, fmt, spec", [("tweet-harvest", "tweet-harvest", None),
                                              ("x-v1.1", "x-v1.1", None),
                                              ("desk", "csv", DESK_MAP)])
def test_archives_triage_end_to_end_every_good_row_decided_every_bad_row_reported(config, files, name, fmt, spec):
    expected = files[name]
    assert len(expected.good) >= 200 and expected.bad
    report = ArchiveReport()
    rows = list(read_archive(expected.path, fmt, parse_map(spec, fmt), report))
    assert [f"{post['platform']}:{post['post_id']}" for _, post in rows] == expected.good
    assert {bad.row: bad.reason for bad in report.bad} == expected.bad
    assert report.rows == len(expected.good) + len(expected.bad) and report.good == len(expected.good)
    records = list(triage_lines(config, archives.archive_lines(iter(rows))))
    assert not [r for r in records if r["outcome"] == "invalid"]
    decided = {r["post_key"] for r in records if r["outcome"] not in ("reply_pending", "response_pending")}
    assert decided == set(expected.good)
    assert any(r["outcome"] == "opened" for r in records)


def test_desk_export_times_are_read_in_their_zones(files):
    expected = files["desk"]
    report = ArchiveReport()
    rows = dict(read_archive(expected.path, "csv", parse_map(DESK_MAP, "csv"), report))
    offsets = {post["created_at"][-6:] for post in rows.values()}
    assert offsets == {"+07:00", "+08:00"}


def test_triage_command_lists_bad_rows_and_decides_the_rest(files, capsysbinary, tmp_path):
    expected = files["tweet-harvest"]
    listing = tmp_path / "bad.jsonl"
    assert main(["triage", "--format", "tweet-harvest", str(expected.path), "--bad-rows", str(listing)]) == 0
    captured = capsysbinary.readouterr()
    records = [orjson.loads(line) for line in captured.out.splitlines()]
    invalid = [r for r in records if r["outcome"] == "invalid"]
    assert {r["row"]: r["reason"] for r in invalid} == expected.bad
    assert {r["post_key"] for r in records if "post_key" in r} == set(expected.good)
    err = captured.err.decode()
    assert f"{len(expected.good) + len(expected.bad)} rows: {len(expected.good)} posts, {len(expected.bad)} bad rows" in err
    assert "bad_timestamp" in err
    assert len(listing.read_bytes().splitlines()) == len(expected.bad)


def test_a_bad_map_is_one_line_and_status_2(files, capsys):
    assert main(["triage", "--format", "csv", "--map", "txet=full_text", str(files["tweet-harvest"].path)]) == 2
    assert "unknown field 'txet'" in capsys.readouterr().err
