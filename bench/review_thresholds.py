"""How the review thresholds of model.toml hold on rows they were not chosen on.

The thresholds that combine the learned model with the rules (model.toml: review_actionable_above,
passage_actionable_above, rules_review_below, rule_category_weight) were chosen by reading the
real labelled sets of the team's shared folder. This script checks that choice by 5-fold
cross-validation: for each fold it picks, from a grid, the thresholds that meet the floors with
the widest margin on the other four fifths of both sets, then scores the held-out fifth. The model
itself never saw a row of these sets. Skips, saying why, where the shared folder is absent.

    .venv/bin/python -m bench.review_thresholds [--config DIR] [--shared DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import sys
from pathlib import Path

import numpy as np
import orjson

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SHARED = ROOT.parent / "shared" / "data" / "realtext"
GRID = {
    "review_actionable_above": (0.15, 0.2, 0.25, 0.3, 0.4),
    "passage_actionable_above": (0.5, 0.7),
    "rules_review_below": (0.6, 0.75, 0.9, 1.0),
    "rule_category_weight": (0.1, 0.2, 0.3),
}
FOLDS = 5


def main(argv: list[str] | None = None) -> int:
    from agents.domain.classify import classify
    from agents.domain.config import load_config
    from agents.domain.triage import places_elsewhere

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(ROOT / "deploy" / "config" / "klaten"))
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED)
    args = parser.parse_args(argv)
    config = load_config(args.config)
    if config.model is None:
        print(f"{args.config} has no model: nothing to check")
        return 0
    model, actionable = config.model, config.actionable_kinds
    sets = {}
    for name in ("purbalingga_complaints", "social_mix"):
        path = args.shared / f"{name}.jsonl"
        if not path.exists():
            print(f"skipped: {path} not found (the real labelled sets live in the team's shared folder)")
            return 0
        posts = [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
        rows = []
        for post in posts:
            if post["label_confidence"] != "high":
                continue
            text = config.normalizer.normalize(post["text"])
            rows.append((post["expect"], text, model.score(text, post["text"]), model.score_passages(text),
                         places_elsewhere(config, text)))
        sets[name] = rows

    def figures(policy, complaints, social):
        """Actionable kept, category accuracy and kind accuracy on the portal complaints; the
        share of non-actionable social posts called actionable."""
        kept = kinds = correct = labelled = expected = 0
        for expect, text, scores, passages, elsewhere in complaints:
            decision = classify(text, config.rules, scores, policy, lambda p=passages: p, lambda e=elsewhere: e)
            kinds += decision.kind == expect["kind"]
            if expect["kind"] not in actionable:
                continue
            expected += 1
            kept += decision.kind in actionable
            if expect["category"]:
                labelled += 1
                correct += decision.category == expect["category"]
        others = called = 0
        for expect, text, scores, passages, elsewhere in social:
            if expect["kind"] not in actionable:
                others += 1
                decision = classify(text, config.rules, scores, policy, lambda p=passages: p, lambda e=elsewhere: e)
                called += decision.kind in actionable
        return kept / expected, correct / labelled, kinds / len(complaints), called / others

    rng = np.random.default_rng(20261207)
    fold_of = {name: rng.permutation(len(rows)) % FOLDS for name, rows in sets.items()}
    policies = [dataclasses.replace(config.review, **dict(zip(GRID, values))) for values in itertools.product(*GRID.values())]
    totals = np.zeros(4)
    for fold in range(FOLDS):
        def part(name, held_out):
            return [row for row, f in zip(sets[name], fold_of[name]) if (f == fold) == held_out]

        def margin(policy):
            kept, category, kind, other = figures(policy, part("purbalingga_complaints", False), part("social_mix", False))
            return min(kept - 0.97, category - 0.85, kind - 0.85, 0.08 - other)

        chosen = max(policies, key=margin)
        held = figures(chosen, part("purbalingga_complaints", True), part("social_mix", True))
        totals += np.array(held) / FOLDS
        picked = ", ".join(f"{key} {getattr(chosen, key):g}" for key in GRID)
        print(f"fold {fold + 1}: {picked} -> held out: actionable kept {held[0]:.3f}, category {held[1]:.3f}, "
              f"kind {held[2]:.3f}, non-actionable called actionable {held[3]:.3f}", flush=True)
    print(f"mean of the held-out folds: actionable kept {totals[0]:.3f}, category {totals[1]:.3f}, kind {totals[2]:.3f}, "
          f"non-actionable called actionable {totals[3]:.3f}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
