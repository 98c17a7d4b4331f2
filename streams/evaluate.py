"""Measure triage decisions against labelled posts: per-label precision, recall and F1, and the
confusion of kinds and categories.

Pure functions over (expected, decided) pairs, so the same figures come from `tanggap eval FILE`,
from the unit tests and from anyone's notebook. A labelled line is a raw post with an `expect`
object (kind, category, priority, opd, kecamatan, desa), the format of
`streams/demo/sample_posts.jsonl` and `tests/data/devset.jsonl`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

OFFICIAL_KIND = "respon_resmi"
NONE_LABEL = "-"
"""How a missing value (no category, no kecamatan) appears in tables and confusion matrices."""

@dataclass(frozen=True)
class Floor:
    """A bound a figure must keep: at least `bound`, or at most it for a rate of mistakes."""

    figure: str
    bound: float
    at_most: bool = False

    def holds(self, figures: Mapping[str, float]) -> bool:
        value = figures.get(self.figure)
        if value is None:
            return True  # not labelled in this file: nothing to hold
        return value <= self.bound if self.at_most else value >= self.bound

    def describe(self) -> str:
        return f"{'at most' if self.at_most else 'floor'} {self.bound:g}"


QUALITY_FLOORS: dict[str, tuple[Floor, ...]] = {
    # The team's own labelled posts (tests/data/devset.jsonl): in-sample, written by the hands
    # that wrote the rules; the floors guard against regressions, they prove nothing about real text.
    "devset": (Floor("kind_macro_f1", 0.92), Floor("category_accuracy_actionable", 0.92), Floor("opd_accuracy", 0.92),
               Floor("kecamatan_accuracy_named", 0.95), Floor("politik_precision", 0.97)),
    # Real text (../shared/data/realtext/), rows labelled with high confidence.
    "purbalingga_complaints": (Floor("actionable_kept", 0.97), Floor("category_accuracy_actionable", 0.85),
                               Floor("kind_accuracy", 0.85)),
    "social_mix": (Floor("other_called_actionable", 0.08, at_most=True), Floor("politik_recall", 0.85),
                   Floor("politik_precision", 0.90), Floor("pengaduan_called_politik", 0, at_most=True)),
}
FLOORS = QUALITY_FLOORS["devset"]


@dataclass(frozen=True)
class LabelScore:
    label: str
    precision: float
    recall: float
    f1: float
    support: int
    """How many posts carry this label in the expectations."""
    predicted: int


@dataclass
class Report:
    posts: int
    kinds: list[LabelScore]
    categories: list[LabelScore]
    figures: dict[str, float]
    counts: dict[str, int]
    kind_confusion: dict[str, dict[str, int]]
    category_confusion: dict[str, dict[str, int]]
    errors: list[dict[str, Any]] = field(default_factory=list)

    def failed_floors(self, floors: tuple[Floor, ...] = FLOORS) -> list[str]:
        return [f"{f.figure} {self.figures[f.figure]:.3f} ({f.describe()})" for f in floors if not f.holds(self.figures)]

    def to_json(self) -> dict[str, Any]:
        return {
            "posts": self.posts,
            "figures": self.figures,
            "counts": self.counts,
            "floors": {f.figure: f.describe() for f in FLOORS},
            "failed_floors": self.failed_floors(),
            "kinds": [vars(s) for s in self.kinds],
            "categories": [vars(s) for s in self.categories],
            "kind_confusion": self.kind_confusion,
            "category_confusion": self.category_confusion,
            "errors": self.errors,
        }


def _label(value: Any) -> str:
    return NONE_LABEL if value is None else str(value)


def label_scores(pairs: Iterable[tuple[str, str]], labels: Iterable[str] | None = None) -> list[LabelScore]:
    """Precision, recall and F1 per label from (expected, predicted) pairs; a label that is never
    predicted has precision 0 when it is expected (and 1 when it is neither, by convention)."""
    true_pos: Counter[str] = Counter()
    expected: Counter[str] = Counter()
    predicted: Counter[str] = Counter()
    for want, got in pairs:
        expected[want] += 1
        predicted[got] += 1
        if want == got:
            true_pos[want] += 1
    names = list(labels) if labels is not None else sorted(set(expected) | set(predicted))
    scores = []
    for name in names:
        tp = true_pos[name]
        precision = tp / predicted[name] if predicted[name] else (1.0 if not expected[name] else 0.0)
        recall = tp / expected[name] if expected[name] else (1.0 if not predicted[name] else 0.0)
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        scores.append(LabelScore(name, precision, recall, f1, expected[name], predicted[name]))
    return scores


def confusion(pairs: Iterable[tuple[str, str]]) -> dict[str, dict[str, int]]:
    """expected label -> predicted label -> count."""
    matrix: dict[str, dict[str, int]] = {}
    for want, got in pairs:
        row = matrix.setdefault(want, {})
        row[got] = row.get(got, 0) + 1
    return matrix


def _accuracy(pairs: list[tuple[Any, Any]]) -> float:
    return sum(1 for want, got in pairs if want == got) / len(pairs) if pairs else 1.0


@dataclass
class _Tally:
    """The (expected, decided) pairs of one evaluation, field by field."""

    actionable: frozenset[str]
    kinds: list[tuple[str, str]] = field(default_factory=list)
    categories: list[tuple[str, str]] = field(default_factory=list)
    priorities: list[tuple[Any, Any]] = field(default_factory=list)
    opds: list[tuple[Any, Any]] = field(default_factory=list)
    kecamatan_named: list[tuple[Any, Any]] = field(default_factory=list)
    desa_named: list[tuple[Any, Any]] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)

    def add(self, expect: Mapping[str, Any], decision: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
        """Score one post; returns its wrong fields."""
        self.counts["posts"] += 1
        want_kind, got_kind = _label(expect.get("kind")), _label(decision.get("kind"))
        self.kinds.append((want_kind, got_kind))
        self.counts["needs_review"] += bool(decision.get("needs_review"))
        wrong = {"kind": (want_kind, got_kind)} if want_kind != got_kind else {}
        if want_kind == OFFICIAL_KIND:
            return wrong
        if want_kind in self.actionable:
            self.counts["actionable"] += 1
            self.counts["kept_actionable"] += got_kind in self.actionable
            self.counts["pengaduan_called_politik"] += want_kind == "pengaduan" and got_kind == "politik"
            for name, bucket in (("category", self.categories), ("priority", self.priorities), ("opd", self.opds)):
                if name in expect:
                    want, got = expect.get(name), decision.get(name)
                    bucket.append((_label(want), _label(got)) if name == "category" else (want, got))
                    if want != got:
                        wrong[name] = (want, got)
        else:
            self.counts["other"] += 1
            self.counts["other_called_actionable"] += got_kind in self.actionable
        for name, bucket in (("kecamatan", self.kecamatan_named), ("desa", self.desa_named)):
            if name not in expect:
                continue
            want, got = expect.get(name), decision.get(name)
            if want is not None:
                bucket.append((want, got))
            elif name == "kecamatan":
                self.counts["kecamatan_not_named"] += 1
                self.counts["kecamatan_invented"] += got is not None
            if want != got and (want is not None or got_kind in self.actionable):
                wrong[name] = (want, got)
        return wrong

    def figures(self, kinds: list[LabelScore]) -> dict[str, float]:
        c = self.counts
        scored_kinds = [s for s in kinds if s.support]
        politik = next((s for s in kinds if s.label == "politik"), None)
        figures = {
            "kind_accuracy": _accuracy(self.kinds),
            "kind_macro_f1": sum(s.f1 for s in scored_kinds) / len(scored_kinds) if scored_kinds else 1.0,
            "politik_precision": politik.precision if politik else 1.0,
            "politik_recall": politik.recall if politik else 1.0,
            "pengaduan_called_politik": float(c["pengaduan_called_politik"]),
        }
        if c["actionable"]:
            figures["actionable_kept"] = c["kept_actionable"] / c["actionable"]
        if c["other"]:
            figures["other_called_actionable"] = c["other_called_actionable"] / c["other"]
        for name, pairs in (("category_accuracy_actionable", self.categories), ("priority_accuracy_actionable", self.priorities),
                            ("opd_accuracy", self.opds), ("kecamatan_accuracy_named", self.kecamatan_named),
                            ("desa_accuracy_named", self.desa_named)):
            if pairs:
                figures[name] = _accuracy(pairs)
        if c["kecamatan_not_named"]:
            figures["kecamatan_invented_rate"] = c["kecamatan_invented"] / c["kecamatan_not_named"]
        return figures


def evaluate(cases: Iterable[tuple[Mapping[str, Any], Mapping[str, Any]]],
             actionable_kinds: Iterable[str] = ("pengaduan", "permintaan_informasi", "aspirasi"),
             texts: Mapping[int, str] | None = None) -> Report:
    """Score (expect, decision) pairs, each field only where the expectation labels it (a key
    present, even as null: `"kecamatan": null` says the post names none). Posts by official
    accounts (`respon_resmi`) count for the kind only; category, priority and OPD are scored on
    posts expected to be actionable, places on posts whose expectation names one."""
    tally = _Tally(frozenset(actionable_kinds))
    errors: list[dict[str, Any]] = []
    for number, (expect, decision) in enumerate(cases):
        wrong = tally.add(expect, decision)
        if wrong:
            errors.append({"case": number, "text": (texts or {}).get(number), "wrong": wrong})
    kinds = label_scores(tally.kinds)
    c = tally.counts
    counts = {
        "posts": c["posts"], "actionable": c["actionable"], "other": c["other"],
        "category_labelled": len(tally.categories), "kecamatan_named": len(tally.kecamatan_named),
        "desa_named": len(tally.desa_named), "kecamatan_not_named": c["kecamatan_not_named"],
        "needs_review": c["needs_review"], "pengaduan_called_politik": c["pengaduan_called_politik"],
    }
    return Report(c["posts"], kinds, label_scores(tally.categories), tally.figures(kinds), counts,
                  confusion(tally.kinds), confusion(tally.categories), errors)


def pair_with_expectations(labelled: Iterable[Mapping[str, Any]],
                           records: Iterable[Mapping[str, Any]]) -> list[tuple[Mapping[str, Any], Mapping[str, Any]]]:
    """Match each labelled post with the final decision for its post key (a later record for the
    same key, e.g. a reply settled after its parent arrived, supersedes an earlier one)."""
    final: dict[str, Mapping[str, Any]] = {}
    for record in records:
        if "post_key" in record:
            final[record["post_key"]] = record
    pairs = []
    for post in labelled:
        key = f"{post.get('platform')}:{post.get('post_id')}"
        pairs.append((post.get("expect") or {}, final.get(key, {"kind": "invalid"})))
    return pairs


def _table(title: str, scores: list[LabelScore]) -> list[str]:
    lines = [f"{title:<22} {'precision':>9} {'recall':>7} {'f1':>6} {'support':>8} {'predicted':>9}"]
    for s in scores:
        lines.append(f"{s.label:<22} {s.precision:>9.3f} {s.recall:>7.3f} {s.f1:>6.3f} {s.support:>8} {s.predicted:>9}")
    return lines


def _matrix(title: str, matrix: dict[str, dict[str, int]]) -> list[str]:
    labels = sorted(set(matrix) | {got for row in matrix.values() for got in row})
    short = [label[:6] for label in labels]
    lines = [f"{title} (rows expected, columns decided)",
             f"{'':<22}" + "".join(f"{s:>7}" for s in short)]
    for want in labels:
        row = matrix.get(want, {})
        lines.append(f"{want:<22}" + "".join(f"{(row.get(got) or '.'):>7}" for got in labels))
    return lines


_FIGURE_LINES = (
    ("kind_macro_f1", "kind macro-F1"),
    ("kind_accuracy", "kind accuracy"),
    ("actionable_kept", "actionable kept actionable"),
    ("other_called_actionable", "non-actionable called actionable"),
    ("category_accuracy_actionable", "category accuracy (actionable)"),
    ("priority_accuracy_actionable", "priority accuracy (actionable)"),
    ("opd_accuracy", "OPD accuracy (actionable)"),
    ("kecamatan_accuracy_named", "kecamatan accuracy (named)"),
    ("desa_accuracy_named", "desa accuracy (named)"),
    ("kecamatan_invented_rate", "kecamatan invented (not named)"),
    ("politik_precision", "politik precision"),
    ("politik_recall", "politik recall"),
    ("pengaduan_called_politik", "pengaduan called politik (posts)"),
)


def render(report: Report, show_errors: int = 0, floors: tuple[Floor, ...] = FLOORS) -> str:
    """The report as text: only the figures the file's labels allow, each with its floor when
    `floors` names one."""
    bounds = {f.figure: f.describe() for f in floors}
    c = report.counts
    lines = [f"posts {report.posts}, expected actionable {c['actionable']}, other {c['other']}, "
             f"category labelled {c['category_labelled']}, kecamatan named {c['kecamatan_named']}; "
             f"decided needs_review {c['needs_review']}, pengaduan called politik {c['pengaduan_called_politik']}",
             ""]
    for name, title in _FIGURE_LINES:
        if name in report.figures:
            lines.append(f"{title:<34} {report.figures[name]:.3f}" + (f"   ({bounds[name]})" if name in bounds else ""))
    lines += [
        "",
        *_table("kind", report.kinds),
        "",
        *_table("category (actionable)", report.categories),
        "",
        *_matrix("kind confusion", report.kind_confusion),
        "",
        *_matrix("category confusion", report.category_confusion),
    ]
    failed = report.failed_floors(floors)
    lines += ["", "floors: " + ("all met" if not failed else "FAILED " + "; ".join(failed))]
    if show_errors:
        lines += ["", f"first {min(show_errors, len(report.errors))} of {len(report.errors)} posts with a wrong field:"]
        for error in report.errors[:show_errors]:
            wrong = ", ".join(f"{k} {w!r}->{g!r}" for k, (w, g) in error["wrong"].items())
            lines.append(f"  #{error['case'] + 1} {wrong} | {(error.get('text') or '')[:100]}")
    return "\n".join(lines)
