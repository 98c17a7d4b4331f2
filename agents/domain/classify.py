"""Classify a normalized post: what kind of post it is, which category, how urgent.

Rules people can read and edit: every decision comes from terms in the lexicon and taxonomy
files, and the returned reasons name the terms that decided it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from agents.domain.matching import PhraseIndex
from agents.domain.text import NormalizedText

KINDS = (
    "pengaduan",
    "permintaan_informasi",
    "aspirasi",
    "apresiasi",
    "politik",
    "spam",
    "lainnya",
)
# Kinds scored against each other; on a tie the earlier one wins, because a missed complaint
# costs a citizen more than a complaint that turns out to be a question.
SCORED_KINDS = ("pengaduan", "permintaan_informasi", "aspirasi", "apresiasi")
PRIORITIES = ("darurat", "tinggi", "normal", "rendah")
FALLBACK_CATEGORY = "lainnya"


@dataclass(frozen=True, slots=True)
class Classification:
    kind: str
    category: str | None
    priority: str | None
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Rules:
    """The compiled lexicon and taxonomy, ready for matching."""

    kind_terms: PhraseIndex[str]
    campaign_terms: PhraseIndex[str]
    category_terms: PhraseIndex[str]
    category_order: Mapping[str, int]
    priority_terms: PhraseIndex[str]
    priority_defaults: Mapping[str, str]
    actionable_kinds: frozenset[str]


def _terms(matches: Sequence, payload: str) -> list[str]:
    return sorted({m.phrase for m in matches if m.payload == payload})


def classify(text: NormalizedText, rules: Rules) -> Classification:
    words = text.words
    if not words:
        return Classification("spam", None, None, ("spam:no_words_only_links_or_mentions",))

    kind_matches = rules.kind_terms.find(words)
    spam = _terms(kind_matches, "spam")
    if spam:
        return Classification("spam", None, None, (f"spam:terms[{','.join(spam)}]",))

    campaign = sorted({m.phrase for m in rules.campaign_terms.find(words)})
    if campaign:
        return Classification("politik", None, None, (f"politik:campaign[{','.join(campaign)}]",))

    category, category_reason = _best_category(words, rules)
    scores = {kind: 0 for kind in SCORED_KINDS}
    for match in kind_matches:
        if match.payload in scores:
            scores[match.payload] += len(match.term)

    politics = _terms(kind_matches, "politik")
    if politics and (category is None or scores["pengaduan"] == 0):
        return Classification("politik", None, None, (f"politik:terms[{','.join(politics)}]",))

    reasons: list[str] = []
    if politics:
        reasons.append(f"politik_mentioned_but_purpose_is_service[{','.join(politics)}]")
    best = max(SCORED_KINDS, key=lambda kind: scores[kind])  # max keeps the first on ties
    if scores[best] > 0:
        kind = best
        reasons.append(f"kind:{kind}[{','.join(_terms(kind_matches, kind))}]")
    elif category is not None:
        # A concrete public-service object with no other signal is read as a report of it.
        kind = "pengaduan"
        reasons.append("kind:pengaduan[category_without_other_signal]")
    else:
        return Classification("lainnya", None, None, ("lainnya:no_signal",))

    if kind not in rules.actionable_kinds:
        return Classification(kind, None, None, tuple(reasons))

    if category is None:
        category = FALLBACK_CATEGORY
        reasons.append(f"category:{FALLBACK_CATEGORY}[no_category_terms]")
    else:
        reasons.append(category_reason)
    priority, priority_reason = _priority(kind, words, rules)
    reasons.append(priority_reason)
    return Classification(kind, category, priority, tuple(reasons))


def _best_category(words: Sequence[str], rules: Rules) -> tuple[str | None, str]:
    matches = rules.category_terms.find(words)
    if not matches:
        return None, ""
    scores: dict[str, int] = {}
    for match in matches:
        scores[match.payload] = scores.get(match.payload, 0) + len(match.term)
    order = rules.category_order
    best = min(scores, key=lambda cat: (-scores[cat], order[cat]))
    return best, f"category:{best}[{','.join(_terms(matches, best))}]"


def _priority(kind: str, words: Sequence[str], rules: Rules) -> tuple[str, str]:
    matches = rules.priority_terms.find(words)
    for level in ("darurat", "tinggi"):
        found = _terms(matches, level)
        if found:
            return level, f"priority:{level}[{','.join(found)}]"
    default = rules.priority_defaults.get(kind, "normal")
    return default, f"priority:{default}[default_for_{kind}]"
