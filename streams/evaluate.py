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

# The floors issue 3 sets on the development set; `tanggap eval --strict` fails below them.
FLOORS: dict[str, float] = {
    "kind_macro_f1": 0.92,
    "category_accuracy_actionable": 0.92,
    "opd_accuracy": 0.92,
    "kecamatan_accuracy_named": 0.95,
    "politik_precision": 0.97,
}


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

    def failed_floors(self) -> list[str]:
        return [f"{name} {self.figures[name]:.3f} < {floor}" for name, floor in FLOORS.items()
                if self.figures.get(name, 0.0) < floor]

    def to_json(self) -> dict[str, Any]:
        return {
            "posts": self.posts,
            "figures": self.figures,
            "counts": self.counts,
            "floors": FLOORS,
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


def evaluate(cases: Iterable[tuple[Mapping[str, Any], Mapping[str, Any]]],
             actionable_kinds: Iterable[str] = ("pengaduan", "permintaan_informasi", "aspirasi"),
             texts: Mapping[int, str] | None = None) -> Report:
    """Score (expect, decision) pairs. Posts by official accounts (`respon_resmi`) count for the
    kind only; category, priority and OPD are scored on posts expected to be actionable, places
    on posts whose expectation names one."""
    actionable = frozenset(actionable_kinds)
    kind_pairs: list[tuple[str, str]] = []
    category_pairs: list[tuple[str, str]] = []
    priority_pairs: list[tuple[Any, Any]] = []
    opd_pairs: list[tuple[Any, Any]] = []
    kecamatan_named: list[tuple[Any, Any]] = []
    desa_named: list[tuple[Any, Any]] = []
    place_invented = 0
    unnamed = 0
    errors: list[dict[str, Any]] = []
    posts = 0
    for number, (expect, decision) in enumerate(cases):
        posts += 1
        want_kind, got_kind = _label(expect.get("kind")), _label(decision.get("kind"))
        kind_pairs.append((want_kind, got_kind))
        wrong = {"kind": (want_kind, got_kind)} if want_kind != got_kind else {}
        if want_kind == OFFICIAL_KIND:
            if wrong:
                errors.append({"case": number, "text": (texts or {}).get(number), "wrong": wrong})
            continue
        if want_kind in actionable:
            for name, bucket in (("category", category_pairs), ("priority", priority_pairs), ("opd", opd_pairs)):
                want, got = expect.get(name), decision.get(name)
                bucket.append((_label(want), _label(got)) if name == "category" else (want, got))
                if want != got:
                    wrong[name] = (want, got)
        for name, bucket in (("kecamatan", kecamatan_named), ("desa", desa_named)):
            want, got = expect.get(name), decision.get(name)
            if want is not None:
                bucket.append((want, got))
            elif name == "kecamatan":
                unnamed += 1
                place_invented += got is not None
            if want != got and (want is not None or got_kind in actionable):
                wrong[name] = (want, got)
        if wrong:
            errors.append({"case": number, "text": (texts or {}).get(number), "wrong": wrong})

    kinds = label_scores(kind_pairs)
    scored_kinds = [s for s in kinds if s.support]
    politik = next((s for s in kinds if s.label == "politik"), None)
    figures = {
        "kind_accuracy": _accuracy(kind_pairs),
        "kind_macro_f1": sum(s.f1 for s in scored_kinds) / len(scored_kinds) if scored_kinds else 1.0,
        "category_accuracy_actionable": _accuracy(category_pairs),
        "priority_accuracy_actionable": _accuracy(priority_pairs),
        "opd_accuracy": _accuracy(opd_pairs),
        "kecamatan_accuracy_named": _accuracy(kecamatan_named),
        "desa_accuracy_named": _accuracy(desa_named),
        "kecamatan_invented_rate": place_invented / unnamed if unnamed else 0.0,
        "politik_precision": politik.precision if politik else 1.0,
        "politik_recall": politik.recall if politik else 1.0,
    }
    counts = {
        "posts": posts, "actionable": len(category_pairs), "kecamatan_named": len(kecamatan_named),
        "desa_named": len(desa_named), "kecamatan_not_named": unnamed,
    }
    return Report(posts, kinds, label_scores(category_pairs), figures, counts,
                  confusion(kind_pairs), confusion(category_pairs), errors)


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


def render(report: Report, show_errors: int = 0) -> str:
    f, c = report.figures, report.counts
    lines = [
        f"posts {report.posts}, actionable {c['actionable']}, kecamatan named {c['kecamatan_named']},"
        f" desa named {c['desa_named']}",
        "",
        f"kind macro-F1                    {f['kind_macro_f1']:.3f}   (floor {FLOORS['kind_macro_f1']})",
        f"kind accuracy                    {f['kind_accuracy']:.3f}",
        f"category accuracy (actionable)   {f['category_accuracy_actionable']:.3f}   (floor {FLOORS['category_accuracy_actionable']})",
        f"priority accuracy (actionable)   {f['priority_accuracy_actionable']:.3f}",
        f"OPD accuracy (actionable)        {f['opd_accuracy']:.3f}   (floor {FLOORS['opd_accuracy']})",
        f"kecamatan accuracy (named)       {f['kecamatan_accuracy_named']:.3f}   (floor {FLOORS['kecamatan_accuracy_named']})",
        f"desa accuracy (named)            {f['desa_accuracy_named']:.3f}",
        f"kecamatan invented (not named)   {f['kecamatan_invented_rate']:.3f}",
        f"politik precision / recall       {f['politik_precision']:.3f} / {f['politik_recall']:.3f}   (floor {FLOORS['politik_precision']})",
        "",
        *_table("kind", report.kinds),
        "",
        *_table("category (actionable)", report.categories),
        "",
        *_matrix("kind confusion", report.kind_confusion),
        "",
        *_matrix("category confusion", report.category_confusion),
    ]
    failed = report.failed_floors()
    lines += ["", "floors: " + ("all met" if not failed else "FAILED " + "; ".join(failed))]
    if show_errors:
        lines += ["", f"first {min(show_errors, len(report.errors))} of {len(report.errors)} posts with a wrong field:"]
        for error in report.errors[:show_errors]:
            wrong = ", ".join(f"{k} {w!r}->{g!r}" for k, (w, g) in error["wrong"].items())
            lines.append(f"  #{error['case'] + 1} {wrong} | {(error.get('text') or '')[:100]}")
    return "\n".join(lines)
