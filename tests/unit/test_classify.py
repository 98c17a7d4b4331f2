"""Unit tests for agents/domain/classify.py with a small hand-built rule set.

The rules below are independent of the deployment's lexicon and taxonomy files, so these tests
pin the decision procedure (spam > campaign > politik vs. service > scored kinds > category),
not the vocabulary.
"""

from __future__ import annotations

import pytest

from agents.domain.classify import FALLBACK_CATEGORY, SCORED_KINDS, Classification, Rules, classify
from agents.domain.matching import PhraseIndex
from agents.domain.text import NormalizedText


def phrases(table: dict[str, list[str]]) -> PhraseIndex[str]:
    return PhraseIndex((tuple(term.split()), payload) for payload, terms in table.items() for term in terms)


KIND_TERMS = {
    "pengaduan": ["rusak", "mohon perbaiki", "mati"],
    "permintaan_informasi": ["tanya", "bagaimana cara"],
    "aspirasi": ["usul"],
    "apresiasi": ["mantap", "terima kasih"],
    "politik": ["pilkada", "partai"],
    "spam": ["slot gacor"],
}
CAMPAIGN_TERMS = {"politik": ["coblos", "ganti bupati"]}
CATEGORY_TERMS = {
    "jalan": ["jalan rusak", "berlubang"],
    "penerangan": ["lampu jalan", "lampu"],
}
PRIORITY_TERMS = {"darurat": ["kebakaran", "pohon tumbang"], "tinggi": ["parah", "bahaya"]}


def make_rules(
    *,
    category_order: dict[str, int] | None = None,
    actionable: tuple[str, ...] = ("pengaduan", "permintaan_informasi"),
    defaults: dict[str, str] | None = None,
) -> Rules:
    return Rules(
        kind_terms=phrases(KIND_TERMS),
        campaign_terms=phrases(CAMPAIGN_TERMS),
        category_terms=phrases(CATEGORY_TERMS),
        category_order=category_order or {"jalan": 0, "penerangan": 1, FALLBACK_CATEGORY: 2},
        priority_terms=phrases(PRIORITY_TERMS),
        priority_defaults={"pengaduan": "normal", "permintaan_informasi": "rendah"} if defaults is None else defaults,
        actionable_kinds=frozenset(actionable),
    )


RULES = make_rules()


def run(text: str, rules: Rules = RULES) -> Classification:
    return classify(NormalizedText(tuple(text.split()), (), False), rules)


# --- spam and politics ------------------------------------------------------------------------


def test_spam_term_makes_the_post_spam_whatever_else_it_says():
    result = run("slot gacor jalan rusak mohon perbaiki coblos pilkada")
    assert result == Classification("spam", None, None, ("spam:terms[slot gacor]",))


def test_post_without_words_is_spam():
    assert run("") == Classification("spam", None, None, ("spam:no_words_only_links_or_mentions",))


def test_campaign_term_makes_the_post_politik_even_with_a_complaint():
    result = run("jalan rusak mohon perbaiki ayo coblos")
    assert result == Classification("politik", None, None, ("politik:campaign[coblos]",))


def test_campaign_reason_lists_each_campaign_term_once_sorted():
    assert run("coblos ganti bupati coblos").reasons == ("politik:campaign[coblos,ganti bupati]",)


def test_politik_term_with_service_complaint_is_pengaduan_with_reason():
    result = run("sejak pilkada jalan rusak mohon perbaiki")
    assert result.kind == "pengaduan"
    assert result.category == "jalan"
    assert result.reasons[0] == "politik_mentioned_but_purpose_is_service[pilkada]"


def test_politik_terms_without_complaint_signal_are_politik():
    result = run("pilkada partai ramai")
    assert result == Classification("politik", None, None, ("politik:terms[partai,pilkada]",))


def test_politik_terms_with_complaint_words_but_no_category_are_politik():
    assert run("partai rusak").kind == "politik"


def test_politik_terms_with_category_but_no_complaint_words_are_politik():
    # A category object alone ("lampu") is not enough to outweigh politics.
    assert run("partai pasang lampu tanya").kind == "politik"


# --- scored kinds -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("rusak tanya", "pengaduan"),
        ("tanya usul lampu", "permintaan_informasi"),
        ("usul mantap lampu", "aspirasi"),
    ],
)
def test_tie_goes_to_the_kind_listed_first(text, kind):
    assert run(text, make_rules(actionable=SCORED_KINDS)).kind == kind


def test_tie_order_is_the_documented_one():
    assert SCORED_KINDS == ("pengaduan", "permintaan_informasi", "aspirasi", "apresiasi")


def test_phrase_scores_its_word_count():
    # "bagaimana cara" (2) beats "rusak" (1).
    assert run("bagaimana cara lapor jalan rusak").kind == "permintaan_informasi"


def test_kind_reason_names_the_terms_that_decided_it():
    result = run("lampu mati mohon perbaiki")
    assert "kind:pengaduan[mati,mohon perbaiki]" in result.reasons


def test_category_problem_without_other_signal_is_a_pengaduan():
    result = run("lampu jalan di depan sd")
    assert result.kind == "pengaduan"
    assert result.category == "penerangan"
    assert result.reasons[0] == "kind:pengaduan[category_problem_without_other_signal]"


def test_bare_topic_word_without_other_signal_is_lainnya():
    # "berlubang" alone, like "sd" or "sawah" in small talk, names a topic, not a problem.
    assert run("berlubang di depan sd").kind == "lainnya"


def test_no_signal_at_all_is_lainnya():
    assert run("selamat pagi semua") == Classification("lainnya", None, None, ("lainnya:no_signal",))


# --- actionable kinds, category and priority --------------------------------------------------


def test_non_actionable_kind_gets_no_category_and_no_priority():
    result = run("terima kasih lampu jalan")
    assert result.kind == "apresiasi"
    assert (result.category, result.priority) == (None, None)
    assert result.reasons == ("kind:apresiasi[terima kasih]",)


def test_actionable_kind_without_category_terms_falls_back_to_lainnya():
    result = run("bagaimana cara daftar")
    assert result.kind == "permintaan_informasi"
    assert result.category == FALLBACK_CATEGORY
    assert f"category:{FALLBACK_CATEGORY}[no_category_terms]" in result.reasons


def test_category_with_most_matched_words_wins():
    # penerangan: "lampu jalan" (2) beats jalan: "berlubang" (1); the "lampu" inside "lampu
    # jalan" does not count again.
    result = run("berlubang lampu jalan mati")
    assert result.category == "penerangan"
    assert "category:penerangan[lampu jalan]" in result.reasons


def test_category_tie_goes_to_the_category_listed_first():
    assert run("berlubang lampu rusak").category == "jalan"
    reordered = make_rules(category_order={"penerangan": 0, "jalan": 1, FALLBACK_CATEGORY: 2})
    assert run("berlubang lampu rusak", reordered).category == "penerangan"


def test_darurat_beats_tinggi():
    result = run("kebakaran parah rusak")
    assert result.priority == "darurat"
    assert result.reasons[-1] == "priority:darurat[kebakaran]"


def test_tinggi_beats_default():
    result = run("jalan rusak parah bahaya")
    assert result.priority == "tinggi"
    assert result.reasons[-1] == "priority:tinggi[bahaya,parah]"


def test_default_priority_comes_from_the_kind():
    assert run("jalan rusak").priority == "normal"
    assert run("tanya lampu").priority == "rendah"


def test_kind_without_configured_default_is_normal():
    assert run("jalan rusak", make_rules(defaults={})).priority == "normal"
    assert run("jalan rusak", make_rules(defaults={})).reasons[-1] == "priority:normal[default_for_pengaduan]"


def test_reasons_are_in_decision_order():
    result = run("jalan rusak parah")
    assert result.reasons == (
        "kind:pengaduan[rusak]",
        "category:jalan[jalan rusak]",
        "priority:tinggi[parah]",
    )


# --- proximity rules, longest match, questions, politics by purpose ----------------------------


def near_rules(window: int = 2) -> Rules:
    from agents.domain.classify import NearRule
    import dataclasses

    entries = [(("jalan",), (0, "object")), (("rusak",), (0, "state")), (("ambles",), (0, "state")),
               (("lampu",), (1, "object")), (("mati",), (1, "state"))]
    return dataclasses.replace(make_rules(), near_rules=(NearRule("jalan", window), NearRule("penerangan", window)),
                               near_terms=PhraseIndex(entries))


def test_object_and_state_within_the_window_decide_the_category():
    result = run("jalan depan sd ambles", near_rules(window=2))
    assert (result.kind, result.category) == ("pengaduan", "jalan")
    assert "category:jalan[near:jalan~ambles]" in result.reasons


def test_object_and_state_farther_apart_than_the_window_do_not():
    assert run("jalan depan sd kami sudah ambles", near_rules(window=2)).category != "jalan"


def test_state_before_object_counts_too():
    assert run("mati lagi lampu", near_rules()).category == "penerangan"


def test_object_inside_a_longer_phrase_of_another_category_is_not_an_object():
    # "jalan" belongs to "lampu jalan" (penerangan) here, so "jalan ... ambles" is no road hit.
    result = run("lampu jalan ambles", near_rules())
    assert result.category == "penerangan"


def test_darurat_term_inside_a_longer_tinggi_phrase_does_not_count():
    rules = make_rules()
    import dataclasses

    rules = dataclasses.replace(rules, priority_terms=phrases({"darurat": ["banjir"], "tinggi": ["rawan banjir"]}))
    assert run("jalan rusak rawan banjir", rules).priority == "tinggi"
    assert run("jalan rusak banjir", rules).priority == "darurat"


def test_priority_terms_only_raise_the_kinds_configured():
    # A question about the evacuation of a flood is not itself an emergency.
    result = run("bagaimana cara lapor kebakaran lampu")
    assert (result.kind, result.priority) == ("permintaan_informasi", "rendah")


def test_question_mark_tips_a_tie_towards_an_information_request():
    asked = classify(NormalizedText(("tanya", "lampu", "rusak"), (), False, True), RULES)
    stated = classify(NormalizedText(("tanya", "lampu", "rusak"), (), False, False), RULES)
    assert (asked.kind, stated.kind) == ("permintaan_informasi", "pengaduan")
    assert "kind:permintaan_informasi[?,tanya]" in asked.reasons or "kind:permintaan_informasi[tanya,?]" in asked.reasons


def test_question_about_a_category_without_other_terms_is_an_information_request():
    result = classify(NormalizedText(("lampu", "buka", "minggu"), (), False, True), RULES)
    assert result.kind == "permintaan_informasi"


def test_small_talk_with_one_weak_term_is_lainnya():
    # "usul" alone and no service object: not enough for a suggestion to the regency.
    assert run("usul makan bakso").kind == "lainnya"


def test_service_question_mentioning_an_election_is_the_question():
    text = NormalizedText(("tanya", "bagaimana", "cara", "lampu", "pilkada"), (), False, True)
    assert classify(text, RULES).kind == "permintaan_informasi"
