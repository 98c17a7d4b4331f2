"""Skip reasons label the metric `tanggap_ingest_items_total`, so they form a bounded set:
every reason an adapter can return is in `SKIP_REASONS`, and `Skipped` refuses any other."""

from __future__ import annotations

import ast
from pathlib import Path

import orjson
import pytest

from schemas.adapters import SKIP_REASONS, AdapterContext, Skipped, UnknownSkipReason, adapter

ADAPTERS = Path(__file__).resolve().parents[2] / "schemas" / "adapters"
PAYLOADS = Path(__file__).resolve().parents[1] / "data" / "platform_payloads"
CONTEXT = AdapterContext(accounts={"104000000000001": "pemkabklaten", "17841400000000001": "pemkabklaten",
                                   "106540352242922": "lapor.klaten", "UCpemkabklaten000000000": "pemkabklaten"},
                         whatsapp_hash_key=b"test-key")


def reasons_named_in_source() -> set[str]:
    """The reason argument of every `Skipped(...)` an adapter module builds; each must be a literal,
    so this list is complete."""
    reasons = set()
    for path in ADAPTERS.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Skipped":
                reason = node.args[1] if len(node.args) > 1 else next(k.value for k in node.keywords if k.arg == "reason")
                assert isinstance(reason, ast.Constant) and isinstance(reason.value, str), (
                    f"{path.name}:{node.lineno}: a skip reason must be a literal from SKIP_REASONS")
                reasons.add(reason.value)
    return reasons


def test_every_reason_an_adapter_names_is_in_the_bounded_set():
    named = reasons_named_in_source()
    assert named <= set(SKIP_REASONS), named - set(SKIP_REASONS)
    assert named == set(SKIP_REASONS), f"reasons no adapter returns: {set(SKIP_REASONS) - named}"


def test_every_reason_adapters_return_on_the_sample_payloads_is_in_the_bounded_set():
    seen = set()
    for path in sorted(PAYLOADS.iterdir()):
        fmt = path.name.split("_")[0]  # files are named after their format
        raw = path.read_bytes()
        payload = [orjson.loads(line) for line in raw.splitlines() if line.strip()] if path.suffix == ".jsonl" \
            else orjson.loads(raw)
        seen |= {item.reason for item in adapter(fmt)(payload, CONTEXT).skipped}
    assert seen and seen <= set(SKIP_REASONS)


def test_a_reason_outside_the_set_is_refused():
    assert Skipped("1", "deleted").reason == "deleted"
    with pytest.raises(UnknownSkipReason, match="SKIP_REASONS"):
        Skipped("1", "removed by the user")
