"""Triage quality on real text and on the team's own posts, in one table: `make quality`.

Runs exactly what `tanggap eval` runs (triage_lines: dedupe, classify, assign, clustering) on:

- ../shared/data/realtext/purbalingga_complaints.jsonl and social_mix.jsonl: text real people
  wrote (read from the shared folder at run time; no row of them is in this repository). The
  floors count the rows labelled with high confidence; all rows are shown beside them;
- tests/data/devset.jsonl: posts the team wrote, in-sample (the hands that wrote the rules and
  the training posts wrote them too): a regression guard, not a measure of real text.

The social mix is also shown by source (high-confidence rows, no floors): `A2` is a keyword
crawl of complaint-looking tweets and news snippets ("jalan rusak", "macet"), the hardest part
for a desk's noise; `okky` national politics and insults; `EmoT` everyday chatter.

Skips the real sets, with a message, where the shared folder is absent. Exit status 1 when a
floor is not met and --strict is given.

    .venv/bin/python -m bench.quality [--config DIR] [--shared DIR] [--strict] [--json PATH]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SHARED = ROOT.parent / "shared" / "data" / "realtext"
REAL_SETS = ("purbalingga_complaints", "social_mix")
SOCIAL_SOURCES = ("A2", "okky", "EmoT")
"""The social mix's sources, each shown on its own (the `source` field of its rows)."""
COLUMNS = (
    ("kind_accuracy", "kind acc"),
    ("actionable_kept", "actionable kept"),
    ("other_called_actionable", "other→actionable"),
    ("category_accuracy_actionable", "category acc"),
    ("politik_precision", "politik P"),
    ("politik_recall", "politik R"),
    ("pengaduan_called_politik", "pengaduan→politik"),
)


def main(argv: list[str] | None = None) -> int:
    from agents.domain.config import load_config
    from streams.cli import evaluate_file
    from streams.evaluate import QUALITY_FLOORS

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(ROOT / "deploy" / "config" / "klaten"))
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED, help=f"real labelled sets (default {DEFAULT_SHARED})")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a floor is not met")
    parser.add_argument("--json", type=Path, help="also write every figure as JSON")
    args = parser.parse_args(argv)

    config = load_config(args.config)
    runs: list[tuple[str, str, Path, str | None, str | None]] = []
    for name in REAL_SETS:
        path = args.shared / f"{name}.jsonl"
        if path.exists():
            runs += [(name, "high", path, "high", None), (name, "all", path, None, None)]
            if name == "social_mix":
                runs += [(f"  source {source}", "high", path, "high", source) for source in SOCIAL_SOURCES]
        else:
            print(f"skipped {name}: {path} not found (the real labelled sets live in the team's shared folder)",
                  file=sys.stderr)
    runs.append(("devset (in-sample)", "all", ROOT / "tests" / "data" / "devset.jsonl", None, None))

    header = f"{'set':<24}{'rows':<6}{'posts':>6}" + "".join(f"{title:>19}" for _, title in COLUMNS)
    print(f"config {args.config}" + (f", model: {config.model.manifest.get('examples', '?')} training posts"
                                     if config.model else ", rules only"))
    print(header)
    print("-" * len(header))
    failed: list[str] = []
    results = {}
    for name, rows, path, label_confidence, source in runs:
        report = evaluate_file(config, path, label_confidence, source=source)
        if source is not None:
            floors = {}  # the floors hold on whole sets
        else:
            floors_name = name if name in QUALITY_FLOORS else "devset"
            floors = ({f.figure: f for f in QUALITY_FLOORS[floors_name]}
                      if rows == "high" or floors_name == "devset" else {})
        cells = []
        for figure, _ in COLUMNS:
            value = report.figures.get(figure)
            if value is None:
                cells.append(f"{'—':>19}")
                continue
            text = f"{value:.0f}" if figure == "pengaduan_called_politik" else f"{value:.3f}"
            floor = floors.get(figure)
            if floor is not None:
                text += " ✓" if floor.holds(report.figures) else " ✗"
            cells.append(f"{text:>19}")
        # Every floor of the set counts, shown as a column or not (macro-F1, OPD accuracy, ...).
        failed += [f"{name}: {f.figure} {report.figures[f.figure]:.3f} ({f.describe()})"
                   for f in floors.values() if not f.holds(report.figures)]
        print(f"{name:<24}{rows:<6}{report.posts:>6}" + "".join(cells))
        results[f"{name.strip()}/{rows}"] = {"posts": report.posts, "figures": report.figures, "counts": report.counts}
    print()
    print("✓/✗: the floor of that figure (real sets: on the high-confidence rows). "
          + ("All floors met." if not failed else "Below floor: " + "; ".join(failed)))
    if args.json:
        args.json.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    return 1 if failed and args.strict else 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
