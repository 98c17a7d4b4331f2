"""The table stores without RocksDB's write-ahead log (streams/stores.py): a clean close keeps
every write, a crash loses the memtable's (which the changelog replays), and the setting."""

from __future__ import annotations

import gc
import subprocess
import sys

import pytest

from streams.settings import Settings, SettingsError
from streams.stores import open_table_store

CRASHING_WRITER = """
import os, signal, sys
from pathlib import Path
from streams.stores import open_table_store
db = open_table_store(Path(sys.argv[1]), write_ahead_log=sys.argv[2] == "wal")
db.put(b"key", b"value")
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_store_without_the_log_keeps_its_writes_through_a_clean_close(tmp_path):
    db = open_table_store(tmp_path / "store")
    db.put(b"key", b"value")
    del db  # faust drops its databases without close(); RocksDB flushes the memtable then
    gc.collect()
    assert open_table_store(tmp_path / "store").get(b"key") == b"value"


@pytest.mark.parametrize("log, survives", [("wal", True), ("no-wal", False)])
def test_a_crash_loses_only_what_the_log_would_have_kept(tmp_path, log, survives):
    # Without the log the write is gone after kill -9: faust's persisted changelog offset went
    # with it (same database, written after the value), so the worker replays it from the topic.
    subprocess.run([sys.executable, "-c", CRASHING_WRITER, str(tmp_path / "store"), log], check=False)
    assert (open_table_store(tmp_path / "store").get(b"key") == b"value") is survives


def test_the_log_is_off_unless_the_setting_asks_for_it():
    assert Settings.from_env({}).store_wal is False
    assert Settings.from_env({"TANGGAP_STORE_WAL": "true"}).store_wal is True
    with pytest.raises(SettingsError):
        Settings.from_env({"TANGGAP_STORE_WAL": "sometimes"})
