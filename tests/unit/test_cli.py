"""Unit tests for streams/cli.py: the commands that need no broker (triage, config check) and the
sample-line helper."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from streams.cli import EXIT_USAGE, main, strip_expectation

REPO = Path(__file__).resolve().parents[2]
COMPLAINT_TEXT = "Jalan di kecamatan Wedi rusak parah dan berlubang, mohon diperbaiki"
RECORD_FIELDS = ("post_id", "platform", "kind", "category", "priority", "opd", "kecamatan", "desa",
                 "complaint_id", "duplicate_of", "reasons")


@pytest.fixture(autouse=True)
def bundled_config(monkeypatch):
    # The commands read the environment: make them use the bundled configuration.
    monkeypatch.delenv("TANGGAP_CONFIG", raising=False)


def raw(post_id: str, text: str, **extra: Any) -> dict[str, Any]:
    return {
        "platform": "twitter",
        "post_id": post_id,
        "text": text,
        "created_at": "2026-11-06T15:00:00+07:00",
        "author": {"id": f"u{post_id}", "handle": f"warga{post_id}"},
        **extra,
    }


def write_jsonl(path: Path, lines: list[Any]) -> Path:
    path.write_bytes(b"\n".join(line if isinstance(line, bytes) else orjson.dumps(line) for line in lines) + b"\n")
    return path


def run_triage(capsys, path: Path) -> list[dict[str, Any]]:
    assert main(["triage", str(path)]) == 0
    out = capsys.readouterr().out
    return [orjson.loads(line) for line in out.splitlines()]


# --- tanggap triage ---------------------------------------------------------------------------


def test_triage_prints_one_json_line_per_post_with_the_decision_fields(tmp_path, capsys):
    path = write_jsonl(tmp_path / "posts.jsonl", [
        raw("1", COMPLAINT_TEXT),
        raw("2", COMPLAINT_TEXT, repost_of="1"),
        raw("3", "Slot gacor maxwin hari ini, klik link di bio"),
    ])
    records = run_triage(capsys, path)
    assert len(records) == 3
    for record in records:
        for field in RECORD_FIELDS:
            assert field in record, field
        assert isinstance(record["reasons"], list)
    assert [r["post_id"] for r in records] == ["1", "2", "3"]
    assert [r["platform"] for r in records] == ["twitter"] * 3
    assert [r["outcome"] for r in records] == ["opened", "mention", "ignored"]
    assert records[0]["kind"] == "pengaduan"
    assert records[0]["kecamatan"] == "Wedi"
    assert records[1]["complaint_id"] == records[0]["complaint_id"]
    assert records[1]["duplicate_of"] == "twitter:1"
    assert records[2]["kind"] == "spam"
    assert records[2]["opd"] is None


def test_triage_reports_invalid_lines_and_carries_on(tmp_path, capsys):
    path = write_jsonl(tmp_path / "posts.jsonl", [
        b"{not json",
        b"[1, 2, 3]",
        {"platform": "twitter", "post_id": "9"},
        raw("10", "jam berapa?", created_at="2026-11-06T15:00:00"),  # no UTC offset
        raw("11", "jam berapa?", created_at="2026-11-06T15:00:60+07:00"),  # leap second
        raw("12", COMPLAINT_TEXT),
    ])
    records = run_triage(capsys, path)
    assert [r["outcome"] for r in records] == ["invalid"] * 5 + ["opened"]
    assert [r["line"] for r in records[:5]] == [1, 2, 3, 4, 5]
    assert [r["reason"] for r in records[:3]] == ["invalid_json", "not_an_object", "schema_violation"]
    # Whether the schema or the parser rejects a timestamp is the schema's business.
    assert {r["reason"] for r in records[3:5]} <= {"schema_violation", "bad_timestamp"}
    assert all(r["detail"] for r in records[:5])
    assert records[5]["post_id"] == "12"


def test_triage_line_numbers_count_blank_lines(tmp_path, capsys):
    path = tmp_path / "posts.jsonl"
    path.write_bytes(b"\n\n{oops\n")
    [record] = run_triage(capsys, path)
    assert record["line"] == 3


def test_triage_ignores_the_expect_key_of_sample_lines(tmp_path, capsys):
    plain = write_jsonl(tmp_path / "plain.jsonl", [raw("1", COMPLAINT_TEXT)])
    sample = write_jsonl(tmp_path / "sample.jsonl", [{**raw("1", COMPLAINT_TEXT), "expect": {"kind": "spam"}}])
    assert run_triage(capsys, sample) == run_triage(capsys, plain)


def test_triage_prints_late_records_after_the_post_that_completes_them(tmp_path, capsys):
    path = write_jsonl(tmp_path / "posts.jsonl", [
        raw("2", "Terima kasih, segera kami tindak lanjuti.", reply_to="1",
            author={"id": "pemkab", "handle": "pemkabklaten"}),
        raw("1", COMPLAINT_TEXT),
    ])
    records = run_triage(capsys, path)
    assert [(r["post_id"], r["outcome"]) for r in records] == [("2", "response_pending"), ("1", "opened"), ("2", "response")]


def test_triage_decides_replies_whose_parent_is_not_in_the_file(tmp_path, capsys):
    path = write_jsonl(tmp_path / "posts.jsonl", [raw("5", COMPLAINT_TEXT, reply_to="4")])
    records = run_triage(capsys, path)
    assert [(r["post_id"], r["outcome"]) for r in records] == [("5", "reply_pending"), ("5", "opened")]


def test_triage_of_a_missing_file_is_a_usage_error(tmp_path, capsys):
    assert main(["triage", str(tmp_path / "missing.jsonl")]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("tanggap: ")
    assert "missing.jsonl" in err


# --- tanggap config check ---------------------------------------------------------------------


def test_config_check_of_the_bundled_config_succeeds(capsys):
    assert main(["config", "check"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].endswith(": OK")
    assert "Kabupaten Klaten" in out


def test_config_check_of_an_explicit_directory(capsys):
    assert main(["config", "check", str(REPO / "deploy" / "config" / "klaten")]) == 0
    assert ": OK" in capsys.readouterr().out


def test_config_check_of_a_missing_directory_is_one_line_without_traceback(capsys):
    assert main(["--config", "/nonexistent", "config", "check"]) == EXIT_USAGE
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("tanggap: ")
    assert "/nonexistent" in lines[0]
    assert "Traceback" not in captured.err


def test_bad_setting_is_one_line_without_traceback(monkeypatch, capsys):
    monkeypatch.setenv("TANGGAP_PARTITIONS", "many")
    assert main(["config", "check"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "TANGGAP_PARTITIONS" in err
    assert "Traceback" not in err


def test_tanggap_config_environment_variable_is_honoured(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("TANGGAP_CONFIG", str(tmp_path / "elsewhere"))
    assert main(["config", "check"]) == EXIT_USAGE
    assert "elsewhere" in capsys.readouterr().err


# --- strip_expectation ------------------------------------------------------------------------


def test_strip_expectation_removes_the_expect_key_and_derives_the_key():
    line = orjson.dumps({**raw("42", "lampu mati"), "expect": {"kind": "pengaduan"}})
    key, value = strip_expectation(line)
    assert key == b"twitter:42"
    parsed = orjson.loads(value)
    assert "expect" not in parsed
    assert parsed == raw("42", "lampu mati")


def test_strip_expectation_leaves_lines_without_expect_byte_for_byte():
    line = b'{"platform": "twitter",  "post_id": "7", "text": "x"}'
    assert strip_expectation(line) == (b"twitter:7", line)


@pytest.mark.parametrize("line", [b"{broken", b"[1, 2]", b'"text"'])
def test_strip_expectation_passes_non_objects_through_without_key(line):
    assert strip_expectation(line) == (None, line)


@pytest.mark.parametrize("value", [{"post_id": "7"}, {"platform": "twitter", "post_id": 7}, {"expect": 1}])
def test_strip_expectation_without_platform_and_post_id_strings_has_no_key(value):
    key, line = strip_expectation(orjson.dumps(value))
    assert key is None
    assert "expect" not in orjson.loads(line)


TRAINING_POSTS = [
    ("jalan desa kami rusak parah banyak lubang mohon diperbaiki", "pengaduan", "jalan"),
    ("aspal di depan pasar mengelupas dan berlubang sudah sebulan", "pengaduan", "jalan"),
    ("lampu jalan di gang kami mati seminggu gelap sekali", "pengaduan", "penerangan_jalan"),
    ("pju dekat masjid padam tolong dicek", "pengaduan", "penerangan_jalan"),
    ("selamat pagi semua semoga sehat selalu", "lainnya", None),
    ("nonton bola semalam seru sampai begadang", "lainnya", None),
    ("partai itu pencitraan saja jelang pemilu", "politik", None),
]


def labelled_archive(tmp_path: Path, copies: int = 3) -> Path:
    lines = []
    for i in range(copies):
        for j, (text, kind, category) in enumerate(TRAINING_POSTS):
            lines.append({**raw(f"{i}-{j}", text), "expect": {"kind": kind, "category": category}})
    return write_jsonl(tmp_path / "archive.jsonl", lines)


def test_train_writes_a_model_a_configuration_can_use(tmp_path, capsys):
    out = tmp_path / "model.npz"
    assert main(["train", str(labelled_archive(tmp_path)), "--no-team-posts", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out}" in printed and "archive.jsonl: 21 rows" in printed
    from agents.domain.model import TriageModel

    model = TriageModel.load(out)
    assert model.manifest["command"].startswith("tanggap train archive.jsonl --no-team-posts")
    assert model.manifest["sources"][0]["kinds"] == {"lainnya": 6, "pengaduan": 12, "politik": 3}


def test_train_cross_validates_an_archive(tmp_path, capsys):
    assert main(["train", str(labelled_archive(tmp_path)), "--no-team-posts", "--cv", "3"]) == 0
    printed = capsys.readouterr().out
    assert "3-fold cross-validation" in printed and "kind accuracy" in printed


def test_train_refuses_an_unlabelled_line_naming_it(tmp_path, capsys):
    path = write_jsonl(tmp_path / "bad.jsonl", [{**raw("1", "jalan rusak"), "expect": {"kind": "keluhan"}}])
    assert main(["train", str(path), "--no-team-posts"]) == EXIT_USAGE
    assert "bad.jsonl:1: needs text and a kind" in capsys.readouterr().err


def test_eval_scores_only_the_labelled_fields_and_filters_by_label_confidence(tmp_path, capsys):
    lines = [{**raw("1", "lampu jalan di gang kami mati seminggu"), "expect": {"kind": "pengaduan", "category": "penerangan_jalan"},
              "label_confidence": "high"},
             {**raw("2", "selamat pagi semua"), "expect": {"kind": "lainnya", "category": None}, "label_confidence": "low"}]
    path = write_jsonl(tmp_path / "labelled.jsonl", lines)
    assert main(["eval", str(path), "--label-confidence", "high"]) == 0
    printed = capsys.readouterr().out
    assert "posts 1," in printed and "category accuracy (actionable)" in printed
    assert "OPD accuracy" not in printed and "priority accuracy" not in printed


def test_train_into_a_configuration_without_a_model_makes_it_use_the_model(tmp_path, capsys):
    import shutil

    from agents.domain.config import load_config

    config_dir = tmp_path / "regency"
    shutil.copytree(Path(__file__).resolve().parents[2] / "deploy" / "config" / "sukamaju", config_dir)
    assert load_config(config_dir).model is None
    assert main(["--config", str(config_dir), "train", str(labelled_archive(tmp_path)), "--no-team-posts"]) == 0
    assert "model.toml" in capsys.readouterr().out
    assert load_config(config_dir).model is not None
