"""Backtest speed on one core: posts per second of `tanggap backtest` (parse, triage, clustering
and the SLA clocks in event time), without writing the report.

Not run by pytest. Usage:

    taskset -c 1 .venv/bin/python bench/backtest_bench.py [--posts 50000] [--responses 0.1] [--runs 3]

The posts come from bench/generate.py (the sample's citizen posts as templates, fresh ids,
authors and times, with redeliveries, reposts, citizen and official replies; fixed seed), one
post every 20 s on average, so the clocks see days of deadlines. `--responses` adds that share
of desk responses naming a complaint's first post, 0-6 hours after it. Every figure is printed
beside two baselines measured in the same run on the same posts: an orjson parse of the lines,
and `Triage.process` alone (the first stage of the backtest, and of the stream); the best of
`--runs` runs counts. Rates are per CPU second of this process (`time.process_time`), so a
busy machine's other processes count less; the wall-clock rate is printed beside it.
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agents.cluster import policy_from  # noqa: E402
from agents.domain.config import load_config  # noqa: E402
from agents.domain.triage import Triage  # noqa: E402
from schemas.events import RawPost  # noqa: E402
from bench.generate import Mix, generate_posts  # noqa: E402
from streams import backtest  # noqa: E402
from streams.settings import Settings  # noqa: E402


def desk_responses(posts: list[dict], share: float, seed: int = 5) -> list[bytes]:
    rng = random.Random(seed)
    firsts = [p for p in posts if not p.get("reply_to") and not p.get("repost_of")]
    chosen = rng.sample(firsts, int(len(firsts) * share)) if share else []
    lines = []
    for post in chosen:
        at = datetime.fromisoformat(post["created_at"]) + timedelta(minutes=rng.randrange(360))
        lines.append(orjson.dumps({"post": {"platform": post["platform"], "post_id": post["post_id"]},
                                   "by": "diskominfo", "kind": "first_response", "at": at.isoformat()}))
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=50_000)
    parser.add_argument("--responses", type=float, default=0.1, help="share of complaints with a desk response")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--copies", type=float, default=0.3, help="bench.generate's Mix.copies (default 0.3)")
    parser.add_argument("--config", default=str(ROOT / "deploy/config/klaten"))
    args = parser.parse_args(argv)

    config = load_config(args.config)
    policy = policy_from(Settings.from_env({}))
    posts = generate_posts(args.posts, seed=11, mix=Mix(copies=args.copies))
    post_lines = [orjson.dumps(p) for p in posts]
    response_lines = desk_responses(posts, args.responses)
    print(f"{len(post_lines):,} posts, {len(response_lines):,} desk responses, "
          f"{(datetime.fromisoformat(posts[-1]['created_at']) - datetime.fromisoformat(posts[0]['created_at'])).days} days")

    parsed = [RawPost.parse(p) for p in posts]
    best = best_triage = 0.0
    for number in range(1, args.runs + 1):
        gc.collect()
        started = time.perf_counter()
        for line in post_lines:
            orjson.loads(line)
        parse = len(post_lines) / (time.perf_counter() - started)
        gc.collect()
        triage, state, orphans = Triage(config), {}, {}
        started = time.process_time()
        for post in parsed:
            triage.process(post, state, orphans, now=post.created_at).apply(state, orphans)
        triage_rate = len(parsed) / (time.process_time() - started)
        del triage, state, orphans
        gc.collect()
        started = time.process_time()
        wall = time.perf_counter()
        inputs = backtest.parse_inputs(enumerate(post_lines, 1), enumerate(response_lines, 1))
        run = backtest.run(config, inputs, policy=policy, until=backtest.UNTIL_END)
        rows = run.rows()
        cpu = time.process_time() - started
        elapsed = time.perf_counter() - wall
        rate = len(post_lines) / cpu
        total = next(r for r in rows if r["opd"] == backtest.ALL)
        print(f"run {number}: backtest {rate:,.0f} posts/s ({len(post_lines) / elapsed:,.0f} wall), "
              f"{cpu:.2f} CPU s; Triage.process alone {triage_rate:,.0f} posts/s ({rate / triage_rate:.2f}x); "
              f"orjson parse {parse:,.0f} lines/s; {total['complaints']:,} complaints, {total['answered']:,} answered, "
              f"{total['breached']:,} breached, {run.clocks.sla_events:,} SLA events")
        best, best_triage = max(best, rate), max(best_triage, triage_rate)
    print(f"best: backtest {best:,.0f} posts/s (floor 5,000), Triage.process alone {best_triage:,.0f} posts/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
