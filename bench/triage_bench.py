"""Triage speed on one core: posts per second of normalize + classify + locate + assign.

Not run by pytest. Usage:

    .venv/bin/python bench/triage_bench.py [--posts 200000] [--config DIR] [FILE.jsonl ...]

The posts are the citizen posts of the labelled dev set and the bundled sample, cycled. Every
figure is reported beside a baseline measured in the same run on the same posts (orjson parse of
the raw line), so machines of different speed give comparable ratios. Pin it to one core with
`taskset -c 0` for a strict one-core figure; the process is single-threaded either way.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agents.domain.assign import assign  # noqa: E402
from agents.domain.config import load_config  # noqa: E402
from agents.domain.triage import Triage, decide  # noqa: E402
from schemas.events import RawPost  # noqa: E402

DEFAULT_FILES = (ROOT / "tests/data/devset.jsonl", ROOT / "streams/demo/sample_posts.jsonl")


def _rate(label: str, run: Callable[[], int], repeat: int = 3) -> float:
    best = 0.0
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        done = run()
        best = max(best, done / (time.perf_counter() - start))
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="*", type=Path, default=list(DEFAULT_FILES))
    parser.add_argument("--posts", type=int, default=200_000, help="posts per measurement (default 200000)")
    parser.add_argument("--config", default=str(ROOT / "deploy/config/klaten"))
    args = parser.parse_args(argv)

    config = load_config(args.config)
    lines: list[bytes] = []
    for path in args.files:
        for line in path.read_bytes().splitlines():
            if line.strip():
                value = orjson.loads(line)
                value.pop("expect", None)
                lines.append(orjson.dumps(value))
    posts = [RawPost.parse(orjson.loads(line)) for line in lines]
    n = args.posts
    cycle = [lines[i % len(lines)] for i in range(n)]
    post_cycle = [posts[i % len(posts)] for i in range(n)]
    normalizer, rules, gazetteer = config.normalizer, config.rules, config.gazetteer
    # Distinct post ids, so the full path never takes the (cheap) redelivery shortcut.
    unique_lines = []
    for i in range(n // 4):
        value = orjson.loads(lines[i % len(lines)])
        value["post_id"] = f"{value['post_id']}-{i}"
        # Standalone posts only: threading is dedupe's cost, not triage's (and a repost of an
        # unknown, non-actionable original currently raises KeyError in Triage.process).
        value["reply_to"] = value["repost_of"] = None
        unique_lines.append(orjson.dumps(value))
    directory, owners = config.directory, config.category_owner

    def parse_only() -> int:
        loads = orjson.loads
        for line in cycle:
            loads(line)
        return n

    def normalize_only() -> int:
        normalize = normalizer.normalize
        for post in post_cycle:
            normalize(post.text)
        return n

    def decide_all() -> int:
        normalize, locate = normalizer.normalize, gazetteer.locate
        for post in post_cycle:
            text = normalize(post.text)
            addressed = (*post.addressed_to, *text.mentions)
            decision = decide(config, post.text, text, addressed)
            if decision.kind in rules.actionable_kinds:
                place = locate(text.words)
                assign(decision, place, addressed, directory, owners)
        return n

    def full_triage() -> int:
        # Parse + Triage.process (dedupe state, records, complaint events): what the agent runs
        # per post, minus Kafka. State is reset per pass so every post is new.
        triage = Triage(config)
        state: dict = {}
        orphans: dict = {}
        for line in unique_lines:
            result = triage.process(RawPost.parse(orjson.loads(line)), state, orphans)
            state.update(result.state_updates)
        return len(unique_lines)

    print(f"{len(lines)} distinct posts, {n} per measurement, best of 3, one thread; "
          f"{'learned model + rules' if config.model is not None else 'rules only'}")
    baseline = _rate("parse", parse_only)
    rows = [
        ("baseline: orjson parse of the raw line", baseline),
        ("normalize only", _rate("normalize", normalize_only)),
        ("triage decision: normalize + score + classify + locate + assign", _rate("decide", decide_all)),
        ("full Triage.process incl. parse, dedupe state, records", _rate("full", full_triage)),
    ]
    for label, rate in rows:
        print(f"  {label:<58} {rate:>12,.0f} posts/s   {rate / baseline:6.3f} x baseline")
    decision_rate = rows[2][1]
    floor = 10_000
    print(f"floor {floor:,} posts/s for the triage decision: {'met' if decision_rate >= floor else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
