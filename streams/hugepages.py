"""Transparent huge pages for the C heap of a worker: RocksDB's block cache and memtables, and
the clustering stage's LSH index.

Both are hundreds of megabytes read at random: with 4 KiB pages nearly every access also misses
the TLB and walks the page tables. On a kernel whose transparent huge pages are in `madvise`
mode (as on this project's machines), memory gets 2 MiB pages only where the program asks for
them, and neither RocksDB nor CPython asks.

glibc (2.35 and later) asks for the whole malloc heap when the tunable `glibc.malloc.hugetlb=1`
is set. A tunable is read once, when the process starts, so a process that wants it executes
itself again with it, before it has done anything else: the same pid, interpreter and arguments
(`sys.orig_argv`). Where it can matter is a large heap (RocksDB blocks, a long dedupe window's
index); the pipeline benchmark's small tables show no difference.

Nothing happens when `TANGGAP_MALLOC_HUGE_PAGES` is false; when GLIBC_TUNABLES is set already
(the operator's own tunables, or this is the executed-again process); when the kernel's mode is
`never` (nothing to gain) or `always` (huge pages already); or when the C library is not glibc
2.35 or later. The price: memory is taken 2 MiB at a time, so a process may hold up to a few
MiB more than it uses.
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Mapping
from pathlib import Path

TUNABLE = "glibc.malloc.hugetlb=1"
THP_MODE = Path("/sys/kernel/mm/transparent_hugepage/enabled")
SETTING = "TANGGAP_MALLOC_HUGE_PAGES"


def kernel_mode(path: Path = THP_MODE) -> str | None:
    """The kernel's transparent huge page mode (always, madvise or never); None if unknown."""
    try:
        text = path.read_text()
    except OSError:
        return None
    start, end = text.find("["), text.find("]")
    return text[start + 1:end] if 0 <= start < end else None


def glibc_has_tunable(libc: tuple[str, str] | None = None) -> bool:
    name, version = libc or platform.libc_ver()
    if name != "glibc":
        return False
    try:
        major, minor = (int(part) for part in version.split(".")[:2])
    except ValueError:
        return False
    return (major, minor) >= (2, 35)


def wanted(environ: Mapping[str, str], mode: str | None, libc: tuple[str, str] | None = None) -> bool:
    """Whether a process with this environment should execute itself again with the tunable."""
    from streams.settings import flag_setting

    if not flag_setting(SETTING, environ):
        return False
    return "GLIBC_TUNABLES" not in environ and mode == "madvise" and glibc_has_tunable(libc)


def reexec_with_huge_pages() -> None:
    """Execute this process again with huge pages for its malloc heap, if `wanted`; returns only
    when nothing was done (or the exec failed, which costs only the huge pages)."""
    if not wanted(os.environ, kernel_mode()):
        return
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execve(sys.executable, sys.orig_argv, {**os.environ, "GLIBC_TUNABLES": TUNABLE})
    except OSError:
        return
