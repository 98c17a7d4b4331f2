"""Triage on text real people wrote: the floors on the two labelled sets of the team's shared
folder (../shared/data/realtext/, see its README). No row of them is in this repository: the
tests read them where they are and skip, saying why, where the folder is absent (a fresh machine
outside the team)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from streams import evaluate
from streams.cli import read_jsonl, triage_lines

REALTEXT = Path(__file__).resolve().parents[3] / "shared" / "data" / "realtext"


def report_of(config, name: str, label_confidence: str | None = "high") -> evaluate.Report:
    path = REALTEXT / f"{name}.jsonl"
    if not path.exists():
        pytest.skip(f"{path} not found: the real labelled sets live in the team's shared folder")
    lines = list(read_jsonl(path))
    labelled = [orjson.loads(line) for _, line in lines]
    keep = [i for i, post in enumerate(labelled) if label_confidence is None or post["label_confidence"] == label_confidence]
    lines, labelled = [lines[i] for i in keep], [labelled[i] for i in keep]
    return evaluate.evaluate(evaluate.pair_with_expectations(labelled, triage_lines(config, iter(lines))),
                             config.actionable_kinds)


@pytest.mark.parametrize("name", ["purbalingga_complaints", "social_mix"])
def test_real_text_meets_its_floors(config, name):
    report = report_of(config, name)
    floors = evaluate.QUALITY_FLOORS[name]
    assert report.failed_floors(floors) == [], evaluate.render(report, floors=floors)


def test_every_real_post_gets_a_decision(config):
    """All rows, high and low confidence: none is invalid or lost."""
    for name in ("purbalingga_complaints", "social_mix"):
        report = report_of(config, name, label_confidence=None)
        decided = {got for row in report.kind_confusion.values() for got in row}
        assert "invalid" not in decided
