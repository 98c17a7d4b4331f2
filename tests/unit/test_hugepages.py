"""streams/hugepages.py: when a process executes itself again with huge pages for its malloc
heap, and that it does so in place (same pid, same arguments)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from streams.hugepages import TUNABLE, glibc_has_tunable, kernel_mode, wanted
from streams.settings import SettingsError

REPO = Path(__file__).resolve().parents[2]
GLIBC = ("glibc", "2.36")


def test_kernel_mode_is_the_bracketed_word(tmp_path):
    for text, mode in (("always [madvise] never\n", "madvise"), ("[always] madvise never", "always"),
                       ("always madvise [never]", "never"), ("garbage", None)):
        path = tmp_path / "enabled"
        path.write_text(text)
        assert kernel_mode(path) == mode
    assert kernel_mode(tmp_path / "missing") is None


def test_only_glibc_2_35_and_later_has_the_tunable():
    assert glibc_has_tunable(("glibc", "2.35"))
    assert glibc_has_tunable(("glibc", "2.36"))
    assert glibc_has_tunable(("glibc", "3.0"))
    assert not glibc_has_tunable(("glibc", "2.31"))
    assert not glibc_has_tunable(("", ""))  # musl and others: platform.libc_ver() knows no version
    assert not glibc_has_tunable(("glibc", "unknown"))


def test_huge_pages_are_wanted_only_where_they_are_missing_and_would_work():
    assert wanted({}, "madvise", GLIBC)
    assert wanted({"TANGGAP_MALLOC_HUGE_PAGES": "true"}, "madvise", GLIBC)
    assert not wanted({"TANGGAP_MALLOC_HUGE_PAGES": "false"}, "madvise", GLIBC), "turned off"
    assert not wanted({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"}, "madvise", GLIBC), "the operator's tunables"
    assert not wanted({"GLIBC_TUNABLES": TUNABLE}, "madvise", GLIBC), "the executed-again process"
    assert not wanted({}, "always", GLIBC), "huge pages everywhere already"
    assert not wanted({}, "never", GLIBC), "the kernel gives none"
    assert not wanted({}, None, GLIBC), "no transparent huge pages at all (not Linux)"
    assert not wanted({}, "madvise", ("glibc", "2.31")), "the tunable does not exist"
    with pytest.raises(SettingsError, match="TANGGAP_MALLOC_HUGE_PAGES"):
        wanted({"TANGGAP_MALLOC_HUGE_PAGES": "maybe"}, "madvise", GLIBC)


def test_a_process_executes_itself_again_in_place_with_the_tunable():
    script = ("import os, sys; print('before', os.getpid(), flush=True); "
              "from streams.hugepages import reexec_with_huge_pages; reexec_with_huge_pages(); "
              "print('after', os.getpid(), os.environ.get('GLIBC_TUNABLES'), sys.argv[1:])")
    env = {k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES", "TANGGAP_MALLOC_HUGE_PAGES")}
    env["PYTHONPATH"] = str(REPO)
    lines = subprocess.run([sys.executable, "-c", script, "an-argument"], env=env, capture_output=True, text=True,
                           check=True, timeout=60).stdout.splitlines()
    expected = wanted(env, kernel_mode())
    befores = [line for line in lines if line.startswith("before")]
    assert len(befores) == (2 if expected else 1), lines
    pid = befores[0].split()[1]
    assert lines[-1] == f"after {pid} {TUNABLE if expected else None} ['an-argument']", lines

    env["TANGGAP_MALLOC_HUGE_PAGES"] = "false"
    lines = subprocess.run([sys.executable, "-c", script, "x"], env=env, capture_output=True, text=True, check=True,
                           timeout=60).stdout.splitlines()
    assert len(lines) == 2 and lines[-1].endswith("None ['x']"), lines
