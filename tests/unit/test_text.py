"""Unit tests for agents/domain/text.py: how a citizen's post becomes the words the rules see."""

from __future__ import annotations

import pytest

from agents.domain.text import NormalizedText, Normalizer, strip_affixes

REPLACEMENTS = {
    "jl": "jalan",
    "jln": "jalan",
    "gk": "tidak",
    "pju": "lampu jalan",
    "kec": "kecamatan",
    "sekolah": "sekolah",
}


@pytest.fixture
def normalizer() -> Normalizer:
    return Normalizer(REPLACEMENTS)


def words(normalizer: Normalizer, text: str) -> tuple[str, ...]:
    return normalizer.normalize(text).words


# --- Unicode and case -------------------------------------------------------------------------


def test_fullwidth_characters_are_folded_by_nfkc(normalizer):
    assert words(normalizer, "ｊａｌａｎ ｒｕｓａｋ") == ("jalan", "rusak")


def test_ligatures_are_expanded_by_nfkc(normalizer):
    assert words(normalizer, "\ufb01ber") == ("fiber",)


def test_upper_case_is_casefolded(normalizer):
    assert words(normalizer, "JALAN RUSAK Parah") == ("jalan", "rusak", "parah")


def test_text_property_joins_words_with_single_spaces(normalizer):
    assert normalizer.normalize("  Jalan   rusak!! ").text == "jalan rusak"


def test_empty_text_gives_no_words():
    assert Normalizer({}).normalize("") == NormalizedText((), (), False)


# --- URLs and mentions ------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["https://t.co/AbC123", "http://klatenkab.go.id/lapor?id=7", "www.example.com/x"])
def test_urls_are_removed_and_flagged(normalizer, url):
    result = normalizer.normalize(f"lihat {url} rusak")
    assert result.words == ("lihat", "rusak")
    assert result.has_links is True


def test_text_without_urls_has_no_links(normalizer):
    assert normalizer.normalize("jalan rusak").has_links is False


def test_url_fragment_does_not_leak_words(normalizer):
    assert words(normalizer, "cek https://klatenkab.go.id/#LaporWarga ya") == ("cek", "ya")


def test_mentions_are_removed_from_words_and_captured_lowercased(normalizer):
    result = normalizer.normalize("@DPUPRKlaten jalan rusak @dishub.klaten")
    assert result.words == ("jalan", "rusak")
    assert result.mentions == ("dpuprklaten", "dishub.klaten")


def test_mention_at_sentence_end_loses_the_trailing_full_stop(normalizer):
    assert normalizer.normalize("Mohon dicek @dpupr.klaten.").mentions == ("dpupr.klaten",)


def test_email_address_is_not_a_mention(normalizer):
    result = normalizer.normalize("kirim ke lapor@klatenkab.go.id")
    assert result.mentions == ()


# --- Hashtags ---------------------------------------------------------------------------------


def test_hashtag_word_is_kept_without_the_hash(normalizer):
    assert words(normalizer, "banjir lagi #klaten") == ("banjir", "lagi", "klaten")


def test_camel_case_hashtag_is_split_into_words(normalizer):
    assert words(normalizer, "#JalanRusak di Wedi") == ("jalan", "rusak", "di", "wedi")


def test_camel_case_hashtag_with_three_words(normalizer):
    assert words(normalizer, "#JalanRusakParah") == ("jalan", "rusak", "parah")


def test_lowercase_hashtag_stays_one_word(normalizer):
    assert words(normalizer, "#jalanrusak") == ("jalanrusak",)


def test_underscored_hashtag_gives_separate_words(normalizer):
    assert words(normalizer, "#jalan_rusak") == ("jalan", "rusak")


# --- Elongation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("tolonggg", "tolong"), ("parahhh", "parah"), ("rusakkkkk", "rusak"), ("TOLONGGG", "tolong")],
)
def test_letters_repeated_three_or_more_times_are_squashed(normalizer, raw, expected):
    assert words(normalizer, raw) == (expected,)


@pytest.mark.parametrize("word", ["saat", "tanggal", "sapii"])
def test_doubled_letters_are_kept(normalizer, word):
    assert words(normalizer, word) == (word,)


def test_repeated_digits_are_not_squashed(normalizer):
    assert words(normalizer, "2000") == ("2000",)


# --- Digits glued to letters ------------------------------------------------------------------


def test_digit_glued_to_letter_is_split(normalizer):
    assert words(normalizer, "sudah 2x lapor") == ("sudah", "2", "x", "lapor")


def test_letters_glued_to_digit_are_split_and_replaced(normalizer):
    assert words(normalizer, "jl2") == ("jalan", "2")


def test_abbreviation_with_dot_before_number(normalizer):
    assert words(normalizer, "jl.2 rusak") == ("jalan", "2", "rusak")


# --- Replacement table ------------------------------------------------------------------------


def test_slang_word_is_replaced(normalizer):
    assert words(normalizer, "jln gk rata") == ("jalan", "tidak", "rata")


def test_replacement_value_may_be_several_words(normalizer):
    assert words(normalizer, "pju mati") == ("lampu", "jalan", "mati")


def test_replacement_keys_are_case_insensitive():
    assert Normalizer({"PJU": "Lampu Jalan"}).normalize("Pju mati").words == ("lampu", "jalan", "mati")


def test_replacement_applies_after_elongation_is_squashed(normalizer):
    assert words(normalizer, "gkkk") == ("tidak",)


def test_replacement_applies_to_the_stem_after_affix_stripping():
    assert Normalizer({"dalan": "jalan"}).normalize("dalane").words == ("jalan",)


def test_replacement_values_are_not_affix_stripped():
    # Values are written in their final form; "diperbaiki" as a value stays as written.
    assert Normalizer({"benerin": "diperbaiki"}).normalize("benerin").words == ("diperbaiki",)


def test_identity_replacement_protects_a_word_from_stripping(normalizer):
    assert strip_affixes("sekolah") == "seko"
    assert words(normalizer, "sekolah") == ("sekolah",)


def test_terms_are_normalized_like_post_text(normalizer):
    assert normalizer.terms("Jln Rusak Parahhh") == normalizer.normalize("jalan rusak parah").words


def test_normalization_is_deterministic_across_repeated_calls(normalizer):
    text = "Jalannya DIPERBAIKI kapan?? #JalanRusak @dpuprklaten"
    assert normalizer.normalize(text) == normalizer.normalize(text)


# --- Affix stripping --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "stem"),
    [
        ("diperbaiki", "perbaiki"),
        ("jalannya", "jalan"),
        ("dalane", "dalan"),
        ("terlambat", "lambat"),
        ("diangkutnya", "angkut"),
        ("laporkan", "lapor"),
        ("tolonglah", "tolong"),
    ],
)
def test_affixes_are_stripped(word, stem):
    assert strip_affixes(word) == stem


@pytest.mark.parametrize("word", ["dia", "dinas", "sate", "lah", "kan", "nya", "bae", "teri"])
def test_short_words_are_untouched(word):
    assert strip_affixes(word) == word


@pytest.mark.parametrize("word", ["gorong-gorong", "di-phk", "2024"])
def test_hyphenated_words_and_numbers_are_untouched(word):
    assert strip_affixes(word) == word


def test_only_one_prefix_and_one_suffix_are_stripped():
    assert strip_affixes("diterbitkannya") == "terbitkan"


def test_affix_stripping_is_applied_to_post_words(normalizer):
    assert words(normalizer, "Jalannya belum diperbaiki") == ("jalan", "belum", "perbaiki")


def test_question_mark_is_recorded_outside_links():
    normalizer = Normalizer({})
    assert normalizer.normalize("buka hari minggu ga?").asks
    assert not normalizer.normalize("lihat https://x.com/a?b=1 ya").asks
    assert not normalizer.normalize("jalan rusak").asks
