"""Classify a normalized post: what kind of post it is, which category, how urgent.

Rules people can read and edit: every decision comes from terms in the lexicon and taxonomy
files, and the returned reasons name the terms that decided it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

from agents.domain.matching import Match, PhraseIndex, PhraseScanner, longest_only
from agents.domain.text import NormalizedText

if TYPE_CHECKING:
    from agents.domain.model import Scores

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
NEAR_WEIGHT = 2
"""A proximity rule hit ("jalan ... rusak") weighs as much as a two-word category phrase."""
QUESTION_WEIGHT = 1
"""What a question mark adds to permintaan_informasi: it breaks a tie with one other term's
worth of evidence, never more (complaints end with "kapan diperbaiki?" too)."""
MIN_WEAK_KIND_SCORE = 2
"""A non-complaint kind with no category needs this much evidence, so "apa kabar? semoga sehat"
is small talk (lainnya), not an information request or a suggestion."""
DEFAULT_NEAR_WINDOW = 4


@dataclass(frozen=True, slots=True)
class NearRule:
    """A category decided by an object and a state close together: "jalan di depan SD rusak"
    is a road complaint though no single term says "jalan rusak"."""

    category: str
    window: int
    """At most this many words between the object and the state."""


@dataclass(frozen=True, slots=True)
class Classification:
    kind: str
    category: str | None
    priority: str | None
    reasons: tuple[str, ...]
    confidence: float | None = None
    """The learned model's probability of `kind` (None when no model decided)."""
    needs_review: bool = False
    """The post may be a complaint but the decision is unsure: it opens for the triage desk."""


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
    near_rules: tuple[NearRule, ...] = ()
    near_terms: PhraseIndex[tuple[int, str]] | None = None
    """Objects and states of the near rules: payload (rule index, "object" or "state")."""
    priority_kinds: frozenset[str] = frozenset({"pengaduan"})
    """Kinds whose priority terms count; the others keep their default (a question about the
    flood evacuation post is not itself an emergency)."""
    report_terms: frozenset[str] = frozenset()
    """Words by which writers say they report or complain ("izin melaporkan", "saya ingin
    mengadukan"): with a concrete problem the rules find, the post is a complaint, whatever
    other actionable kind the model reads (:func:`_reports_a_problem`)."""
    request_terms: frozenset[str] = frozenset()
    """Words by which writers ask the government to act ("mohon", "tolong"): news does not, so a
    post naming a place outside the regency that asks for action is still read by the desk."""
    report_where_terms: frozenset[str] = frozenset()
    """Words that make a report word part of a question about where to report ("lapor ke
    mana?"), when one of them follows it closely."""
    scanner: PhraseScanner = field(init=False, repr=False, compare=False)
    """All the term indexes above, matched in one pass (see match_rules)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "scanner", PhraseScanner(
            (self.kind_terms, self.campaign_terms, self.category_terms, self.near_terms, self.priority_terms)))


class RuleMatches(NamedTuple):
    """What the rules' term indexes find in a post, read once per post."""

    kind: list[Match[str]]
    """Kind terms, longest matches only ("tidak puas" is not also "puas")."""
    campaign: list[Match[str]]
    category: list[Match[str]]
    near: list[Match[tuple[int, str]]]
    priority: list[Match[str]]


def match_rules(words: Sequence[str], rules: Rules) -> RuleMatches:
    kind, campaign, category, near, priority = rules.scanner.scan(words)
    return RuleMatches(longest_only(kind), campaign, category, near, priority)


def _terms(matches: Sequence, payload: str) -> list[str]:
    if not matches:
        return []
    return sorted({" ".join(term) for term, found, _ in matches if found == payload})


def classify_by_rules(text: NormalizedText, rules: Rules, matches: RuleMatches | None = None) -> Classification:
    """The decision of the lexicon and taxonomy rules alone (`matches`: what match_rules found,
    where the caller has it already)."""
    words = text.words
    if not words:
        return Classification("spam", None, None, ("spam:no_words_only_links_or_mentions",))

    if matches is None:
        matches = match_rules(words, rules)
    kind_matches = matches.kind
    spam = _terms(kind_matches, "spam")
    if spam:
        return Classification("spam", None, None, (f"spam:terms[{','.join(spam)}]",))

    campaign = sorted({m.phrase for m in matches.campaign})
    if campaign:
        return Classification("politik", None, None, (f"politik:campaign[{','.join(campaign)}]",))

    category, category_reason, strong_category = _best_category(matches, rules)
    scores, asks = _kind_scores(text, kind_matches)
    politics = _terms(kind_matches, "politik")
    # Politics is about the post's purpose: a complaint or a question about a public service
    # that mentions an election or a politician is still that complaint or question.
    serves = scores["pengaduan"] > 0 or (asks and scores["permintaan_informasi"] > QUESTION_WEIGHT)
    if politics and (category is None or not serves):
        return Classification("politik", None, None, (f"politik:terms[{','.join(politics)}]",))

    reasons: list[str] = []
    if politics:
        reasons.append(f"politik_mentioned_but_purpose_is_service[{','.join(politics)}]")
    decided = _kind_by_rules(text, kind_matches, scores, asks, category is not None, strong_category)
    if decided is None:
        return Classification("lainnya", None, None, ("lainnya:no_signal",))
    kind, kind_reason = decided
    reasons.append(kind_reason)
    if kind not in rules.actionable_kinds:
        return Classification(kind, None, None, tuple(reasons))

    if category is None:
        category = FALLBACK_CATEGORY
        reasons.append(f"category:{FALLBACK_CATEGORY}[no_category_terms]")
    else:
        reasons.append(category_reason)
    priority, priority_reason = _priority(kind, matches, rules)
    reasons.append(priority_reason)
    return Classification(kind, category, priority, tuple(reasons))


def _kind_scores(text: NormalizedText, kind_matches: Sequence[Match[str]]) -> tuple[dict[str, int], bool]:
    """Each scored kind's evidence (words of its terms), and whether the post asks about one:
    a question mark counts for permintaan_informasi only beside other evidence."""
    scores = {kind: 0 for kind in SCORED_KINDS}
    for match in kind_matches:
        if match.payload in scores:
            scores[match.payload] += len(match.term)
    asks = text.asks and scores["permintaan_informasi"] + scores["pengaduan"] + scores["aspirasi"] > 0
    if asks:
        scores["permintaan_informasi"] += QUESTION_WEIGHT
    return scores, asks


def _kind_by_rules(text: NormalizedText, kind_matches: Sequence[Match[str]], scores: Mapping[str, int], asks: bool,
                   has_category: bool, strong_category: bool) -> tuple[str, str] | None:
    """The kind the rules read and its reason; None when nothing signals one (lainnya)."""
    best = max(SCORED_KINDS, key=lambda kind: scores[kind])  # max keeps the first on ties
    if scores[best] > 0 and (best in ("pengaduan", "apresiasi") or has_category or scores[best] >= MIN_WEAK_KIND_SCORE):
        terms = _terms(kind_matches, best)
        if best == "permintaan_informasi" and asks:
            terms.append("?")
        return best, f"kind:{best}[{','.join(terms)}]"
    if has_category and text.asks:
        return "permintaan_informasi", "kind:permintaan_informasi[question_about_category]"
    if strong_category:
        # A concrete public-service problem ("lampu jalan mati", "jalan ... rusak") with no
        # other signal is read as a report of it; a bare topic word ("SD", "sawah") is not.
        return "pengaduan", "kind:pengaduan[category_problem_without_other_signal]"
    return None


@dataclass(frozen=True, slots=True)
class ReviewPolicy:
    """How the learned model's scores and the rules combine, and when a decision is too unsure
    to route (the configuration's ``model.toml``)."""

    review_below: float = 0.55
    """An actionable decision whose probability is below this opens as needs_review."""
    review_actionable_above: float = 0.2
    """Praise or other posts whose actionable kinds together score above this open as
    needs_review: the desk reads them rather than the post being ignored."""
    passage_actionable_above: float = 0.6
    """A long post read as praise or chatter opens as needs_review when one of its passages reads
    this surely as actionable."""
    rules_review_below: float = 0.9
    """Praise or chatter in which the rules read a concrete public-service problem also opens as
    needs_review, unless the model reads it at least this surely (chatter says "macet" too) and
    no complaint phrase of several words ("tidak kunjung diperbaiki") says otherwise."""
    rule_category_weight: float = 0.2
    """What the rules' category adds to the model's category probability."""
    spam_kept_below: float = 0.8
    """Spam terms decide unless the model reads a public-service post this surely (a report of
    online gambling in the village names "judi online" too)."""
    service_despite_politics: float = 0.5
    """Political terms decide unless the model reads a public-service post this surely and the
    rules find its category ("pak Bupati, jalan desa kami rusak"), or reads it as surely as
    `spam_kept_below` (a complaint about billboards, "baliho", left on a sidewalk)."""
    category_review_below: float = 0.4
    """An actionable post whose category the model reads below this, and in which the rules find
    no category term, opens as needs_review: routing needs to know which service it is about
    ("Hadir dari Pedan" to the regency's account names a place and no problem). 0: off."""


DEFAULT_REVIEW_POLICY = ReviewPolicy()


def classify(text: NormalizedText, rules: Rules, scores: Scores | None = None,
             policy: ReviewPolicy = DEFAULT_REVIEW_POLICY,
             passages: Callable[[], Sequence[Scores]] | None = None,
             elsewhere: Callable[[], Sequence[str]] | None = None) -> Classification:
    """Kind, category and priority of a post: hard policy from the rules (spam, campaigning,
    political talk), the kind and category from the learned model's reading of the whole text
    where there is one (`scores`; `passages` reads a long post's passages on demand), the
    category also from the rules' evidence, the priority from the rules. Without scores, the
    rules decide alone. `elsewhere` names, on demand, the places outside the regency the post
    is about when it names none inside."""
    if scores is None:
        return classify_by_rules(text, rules)
    words = text.words
    if not words:
        return Classification("spam", None, None, ("spam:no_words_only_links_or_mentions",))
    actionable = rules.actionable_kinds
    served = sum([p for kind, p in scores.kinds.items() if kind in actionable])
    matches = match_rules(words, rules)
    rule_category: tuple[str | None, str, bool] | None = None
    politics = _terms(matches.kind, "politik")
    if politics:
        rule_category = _best_category(matches, rules)
    decided = _hard_policy(matches, politics, served, rule_category, scores, policy)
    # A writer who asks for action ("mohon segera dicairkan") on a service the rules find, naming a
    # politician on the way ("sudah disebut pak presiden"), may be making a complaint: people
    # read it instead of the political lexicon deciding it alone. Campaigning still decides.
    asks_despite_politics = (decided is not None and decided.kind == "politik" and not matches.campaign
                             and rule_category is not None and rule_category[0] is not None
                             and _asks_for_action(words, rules))
    if decided is not None and not asks_despite_politics:
        return decided

    reasons: list[str] = []
    if politics:
        reasons.append(f"politik_mentioned_but_purpose_is_service[{','.join(politics)}]")
    kind, confidence = scores.best_kind()
    reasons.append(_model_reason("kind", kind, confidence, scores))
    if asks_despite_politics and kind not in actionable:
        why, not_reviewed = f"asks for action on {rule_category[0]}, names politics", ""
    else:
        why, not_reviewed = _why_review(kind, confidence, served, text, rules, policy, passages, matches, elsewhere)
    if not_reviewed:
        reasons.append(f"not_reviewed[{not_reviewed}]")
    if why:
        reasons.append(f"needs_review[{why}]")
        if kind not in actionable:
            kind = max(actionable, key=lambda k: (scores.kinds.get(k, 0.0), k))
            confidence = scores.kinds.get(kind, 0.0)
    if kind not in actionable:
        return Classification(kind, None, None, tuple(reasons), round(confidence, 3))
    if kind in REPORTABLE_KINDS and rules.report_terms:
        rule_category = rule_category or _best_category(matches, rules)
        said = _reports_a_problem(words, rule_category[2], rules)
        if said:
            # The label guide's line between the actionable kinds: a post that reports a
            # failure is a complaint, also when it asks when the failure will be fixed or
            # suggests how. Its priority and SLA are a complaint's; its confidence stays the
            # model's in the kind it read.
            reasons.append(f"kind:pengaduan[writer reports a problem: {','.join(said)}; instead of {kind}]")
            kind = "pengaduan"

    category, category_reason, _ = rule_category or _best_category(matches, rules)
    chosen = dict(scores.categories)
    if category is not None:
        chosen[category] = chosen.get(category, 0.0) + policy.rule_category_weight
    best = max(chosen, key=chosen.__getitem__)
    if category is not None and chosen[category] == chosen[best]:
        best = category  # on a tie, the category the rules read
    model_category = scores.categories.get(best, 0.0)
    if not why and category is None and model_category < policy.category_review_below:
        # Three decimals: "0.40 < 0.4" would read as a contradiction.
        why = f"category {model_category:.3f} < {policy.category_review_below:g}, no category terms"
        reasons.append(f"needs_review[{why}]")
    evidence = scores.evidence(best)
    reasons.append(f"category:{best}[model {model_category:.2f}"
                   + (f": {','.join(evidence)}" if evidence else "")
                   + (f"; rules {category_reason.partition(':')[2]}" if category is not None else "") + "]")
    priority, priority_reason = _priority(kind, matches, rules)
    reasons.append(priority_reason)
    return Classification(kind, best, priority, tuple(reasons), round(confidence, 3), bool(why))


def _hard_policy(matches: RuleMatches, politics: list[str], served: float,
                 rule_category: tuple[str | None, str, bool] | None, scores: Scores,
                 policy: ReviewPolicy) -> Classification | None:
    """Spam, campaigning and political talk, decided by the rules unless the model reads a
    public-service post surely enough; None when no hard policy applies."""
    spam = _terms(matches.kind, "spam")
    if spam and served < policy.spam_kept_below:
        return Classification("spam", None, None, (f"spam:terms[{','.join(spam)}]",), scores.kinds.get("spam"))
    if matches.campaign:
        campaign = sorted({m.phrase for m in matches.campaign})
        return Classification("politik", None, None, (f"politik:campaign[{','.join(campaign)}]",),
                              scores.kinds.get("politik"))
    if politics:
        has_category = rule_category is not None and rule_category[0] is not None
        serves = served >= policy.service_despite_politics and (has_category or served >= policy.spam_kept_below)
        if not serves:
            return Classification("politik", None, None, (f"politik:terms[{','.join(politics)}]",),
                                  scores.kinds.get("politik"))
    return None


def _why_review(kind: str, confidence: float, served: float, text: NormalizedText, rules: Rules,
                policy: ReviewPolicy, passages: Callable[[], Sequence[Scores]] | None,
                matches: RuleMatches, elsewhere: Callable[[], Sequence[str]] | None) -> tuple[str, str]:
    """Why the model's reading is too unsure to act on alone ("" when it is sure enough), and
    why a reading that would have gone to people did not ("" when none)."""
    actionable = rules.actionable_kinds
    if kind in actionable:
        return (f"kind {confidence:.2f} < {policy.review_below:g}" if confidence < policy.review_below else ""), ""
    if kind == "politik":
        # Only the political lexicon decides politics surely (hard policy, above). A political
        # reading of the model alone that is unsure goes to people: a complaint wrongly left
        # unanswered breaks the desk's promise, a political post in its queue costs a minute.
        if confidence < policy.review_below:
            return f"politik {confidence:.2f} < {policy.review_below:g}, model alone", ""
        return "", ""
    if kind == "spam":
        return "", ""
    # The model reads praise or chatter. People read it too when the model is torn, or when a
    # passage or the rules see a public-service problem in it: a complaint that thanks the admin,
    # or is told as a story, must not be dropped.
    if served > policy.review_actionable_above:
        return f"actionable {served:.2f} > {policy.review_actionable_above:g}, model read {kind}", ""
    if passages is not None:
        best = max((sum(p.kinds[k] for k in actionable) for p in passages()), default=0.0)
        if best > policy.passage_actionable_above:
            return f"a passage reads actionable {best:.2f} > {policy.passage_actionable_above:g}, model read {kind}", ""
    # A complaint phrase of several words ("tidak kunjung diperbaiki") about a concrete problem
    # is a complaint's own wording, which chatter rarely uses however sure the model is; a single
    # word ("macet") is not enough against a sure model.
    sure = confidence >= policy.rules_review_below
    phrases = _complaint_phrases(matches) if sure else []
    if not sure or phrases:
        by_rules = classify_by_rules(text, rules, matches)
        if by_rules.kind not in actionable or not _names_a_problem(by_rules):
            return "", ""
        # Past a sure model only with a concrete problem; past an unsure one also with a
        # complaint word beyond a topic word.
        if not (_best_category(matches, rules)[2] or (not sure and _complaint_word_beyond_topic(matches))):
            return "", ""
        why = f"rules read {by_rules.kind} {by_rules.category}, model read {kind}"
        if phrases:
            why = f"rules read {by_rules.kind} {by_rules.category} ({','.join(phrases)}), model read {kind} {confidence:.2f}"
        outside = elsewhere() if elsewhere is not None else ()
        if outside and not _asks_for_action(text.words, rules):
            # A problem phrase in what the model reads as news or chatter about another
            # region ("Perbaikan jalan di Jember ..."): not this regency's to answer. A post
            # that asks for action ("mohon", "tolong") is a citizen's, not news: it stays.
            return "", f"{why}; about {','.join(outside)}, outside the regency"
        return why, ""
    return "", ""


def _complaint_phrases(matches: RuleMatches) -> list[str]:
    """The complaint phrases of two words or more the rules find."""
    return sorted({" ".join(m.term) for m in matches.kind if m.payload == "pengaduan" and len(m.term) > 1})


def _complaint_word_beyond_topic(matches: RuleMatches) -> bool:
    """Whether a complaint word lies outside the category terms ("macet parah"), so that the
    rules' complaint is more than one word that is its topic and its problem at once ("macet",
    "bau": a zip is "macet" too). A concrete problem (a near-rule hit or a category phrase)
    needs no such word."""
    topic = {word for match in matches.category for word in match.term}
    return any(m.payload == "pengaduan" and not topic.issuperset(m.term) for m in matches.kind)


def _asks_for_action(words: Sequence[str], rules: Rules) -> bool:
    return not rules.request_terms.isdisjoint(words)


REPORTABLE_KINDS = frozenset({"permintaan_informasi", "aspirasi"})
"""Actionable kinds that a post saying it reports a concrete problem is not."""
REPORT_WHERE_WINDOW = 4
"""How closely a where-word follows a report word to make it a question ("lapor ke mana ya")."""


def _reports_a_problem(words: Sequence[str], concrete: bool, rules: Rules) -> list[str]:
    """The report words of a post whose writer says they report a problem that the rules find
    `concrete` (a near-rule hit or a category phrase); [] when there is none, or when every
    report word asks where to report."""
    if not concrete:
        return []
    report, where = rules.report_terms, rules.report_where_terms
    said = {word for i, word in enumerate(words)
            if word in report and where.isdisjoint(words[i + 1:i + 1 + REPORT_WHERE_WINDOW])}
    return sorted(said)


def _names_a_problem(decision: Classification) -> bool:
    """The rules read a complaint about a concrete public-service problem: a complaint with a
    category of its own, not the fallback category of a complaint without category terms."""
    return decision.kind == "pengaduan" and decision.category not in (None, FALLBACK_CATEGORY)


def _model_reason(head: str, label: str, probability: float, scores: Scores) -> str:
    evidence = scores.evidence(label)
    return f"{head}:{label}[model {probability:.2f}{': ' + ','.join(evidence) if evidence else ''}]"


def _near_hits(near_matches: Sequence[Match[tuple[int, str]]], rules: Rules,
               categories: Sequence[Match[str]]) -> list[tuple[int, str]]:
    """(rule index, "object~state") for every near rule whose object and state are close. An
    object inside a longer category phrase of another category (of `categories`, the category
    matches) is that phrase's (the "lampu" of "lampu merah" is no street light)."""
    if not near_matches:
        return []
    phrases = [m for m in categories if len(m.term) > 1]
    near_rules = rules.near_rules
    spans: dict[int, tuple[list[Match], list[Match]]] = {}
    for match in near_matches:
        rule, role = match.payload
        if role == "object" and phrases and _inside_other(match, near_rules[rule].category, phrases):
            continue
        objects, states = spans.setdefault(rule, ([], []))
        (objects if role == "object" else states).append(match)
    hits = []
    for rule, (objects, states) in spans.items():
        if not objects or not states:
            continue
        window = near_rules[rule].window
        found = None
        for obj in objects:
            for state in states:
                gap = state.start - (obj.start + len(obj.term)) if state.start >= obj.start else obj.start - (state.start + len(state.term))
                if 0 <= gap <= window:
                    found = f"{obj.phrase}~{state.phrase}"
                    break
            if found:
                break
        if found:
            hits.append((rule, found))
    return hits


def _inside_other(match: Match, category: str, phrases: Sequence[Match[str]]) -> bool:
    end = match.start + len(match.term)
    return any(p.payload != category and len(p.term) > len(match.term)
               and p.start <= match.start and end <= p.start + len(p.term) for p in phrases)


def _best_category(found: RuleMatches, rules: Rules) -> tuple[str | None, str, bool]:
    """The best category, its reason, and whether the evidence names a problem (a near-rule hit
    or a phrase of two or more words) rather than a bare topic word."""
    matches = longest_only(found.category)
    near = _near_hits(found.near, rules, matches)
    if not matches and not near:
        return None, "", False
    scores: dict[str, int] = {}
    evidence: dict[str, list[str]] = {}
    strong: set[str] = set()
    for term, category, _ in matches:
        size = len(term)
        scores[category] = scores.get(category, 0) + size
        evidence.setdefault(category, []).append(" ".join(term))
        if size > 1:
            strong.add(category)
    for rule, pair in near:
        category = rules.near_rules[rule].category
        scores[category] = scores.get(category, 0) + NEAR_WEIGHT
        evidence.setdefault(category, []).append(f"near:{pair}")
        strong.add(category)
    if len(scores) == 1:
        best = next(iter(scores))
    else:
        order = rules.category_order
        best = min(scores, key=lambda cat: (-scores[cat], order[cat]))
    return best, f"category:{best}[{','.join(sorted(set(evidence[best])))}]", best in strong or scores[best] >= 2


def _priority(kind: str, found: RuleMatches, rules: Rules) -> tuple[str, str]:
    if kind in rules.priority_kinds and found.priority:
        # The longest phrase decides: "rawan banjir" (tinggi) is not also "banjir" (darurat).
        matches = longest_only(found.priority)
        for level in ("darurat", "tinggi"):
            found = _terms(matches, level)
            if found:
                return level, f"priority:{level}[{','.join(found)}]"
    default = rules.priority_defaults.get(kind, "normal")
    return default, f"priority:{default}[default_for_{kind}]"
