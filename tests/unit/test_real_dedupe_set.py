"""Near-duplicate clustering on real citizen complaints: the real-text dedupe set is generated
from ../shared/data/realtext/purbalingga_complaints.jsonl (tests/data/make_real_dedupe_set.py),
which may not enter this repository; without that folder the test is skipped."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.data.make_real_dedupe_set import SOURCE, build

pytestmark = pytest.mark.skipif(
    not SOURCE.exists(), reason=f"{SOURCE} is absent (real text is not part of the repository; see its README)")

REPO = Path(__file__).resolve().parents[2]


def test_the_real_text_set_is_generated_the_same_every_time():
    first, second = build(), build()
    assert first == second
    variants = {post["expect"]["variant"].partition(":")[0] for post in first}
    assert variants == {"original", "copy", "place_swap", "same_place"}


def test_dedupe_eval_on_the_real_text_set_meets_the_floors(tmp_path):
    out = tmp_path / "real_dedupe_set.jsonl"
    subprocess.run([sys.executable, str(REPO / "tests/data/make_real_dedupe_set.py"), str(out)], check=True,
                   capture_output=True)
    done = subprocess.run([sys.executable, "-m", "streams.cli", "dedupe-eval", "--strict", str(out)],
                          capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "pair precision" in done.stdout
