"""Triage on text real people wrote: the floors on the two labelled sets of the team's shared
folder (../shared/data/realtext/, see its README). No row of them is in this repository: the
tests read them where they are and skip, saying why, where the folder is absent (a fresh machine
outside the team)."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams import evaluate
from streams.cli import evaluate_file

REALTEXT = Path(__file__).resolve().parents[3] / "shared" / "data" / "realtext"


def report_of(config, name: str, label_confidence: str | None = "high") -> evaluate.Report:
    path = REALTEXT / f"{name}.jsonl"
    if not path.exists():
        pytest.skip(f"{path} not found: the real labelled sets live in the team's shared folder")
    return evaluate_file(config, path, label_confidence)


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
