"""Unit tests for agents/domain/places.py with a small hand-built gazetteer.

Shapes taken from Klaten: "Jetis" is a desa in several kecamatan, "Jatinom" is both a kecamatan
and a desa, "Dukuh" is a desa and an ordinary word, "klateng" is how people write Klaten Tengah.
"""

from __future__ import annotations

import pytest

from agents.domain.places import Gazetteer, Place, slug
from agents.domain.text import Normalizer

NORMALIZER = Normalizer({"ds": "desa", "kec": "kecamatan", "kel": "kelurahan"})

KECAMATAN = ["Wedi", "Bayat", "Jatinom", "Klaten Tengah"]
DESA = [
    ("Pesu", "Wedi"),
    ("Jetis", "Wedi"),
    ("Jetis", "Bayat"),
    ("Jetis", "Jatinom"),
    ("Jatinom", "Jatinom"),
    ("Dukuh", "Bayat"),
    ("Gunung Gajah", "Bayat"),
    ("Bareng Lor", "Klaten Tengah"),
]
ALIASES = {"Klaten Tengah": ["klateng", "kota klaten"], "Wedi": ["wedhi"]}
MARKER_ONLY = ["Dukuh"]


@pytest.fixture(scope="module")
def gazetteer() -> Gazetteer:
    return Gazetteer(KECAMATAN, DESA, NORMALIZER, ALIASES, MARKER_ONLY)


def locate(gazetteer: Gazetteer, text: str) -> Place:
    return gazetteer.locate(NORMALIZER.normalize(text).words)


# --- kecamatan --------------------------------------------------------------------------------


def test_kecamatan_found_by_name(gazetteer):
    assert locate(gazetteer, "Jalan di kecamatan Wedi rusak") == Place("Wedi", None, ("place:kecamatan[Wedi]",))


def test_multi_word_kecamatan_found_by_name(gazetteer):
    assert locate(gazetteer, "lampu mati di Klaten Tengah").kecamatan == "Klaten Tengah"


@pytest.mark.parametrize("text", ["lampu mati di klateng", "macet di Kota Klaten", "KLATENG gelap"])
def test_kecamatan_found_by_alias(gazetteer, text):
    place = locate(gazetteer, text)
    assert place.kecamatan == "Klaten Tengah"
    assert place.reasons == ("place:kecamatan[Klaten Tengah]",)


def test_several_kecamatan_first_named_wins_and_all_are_listed(gazetteer):
    place = locate(gazetteer, "dari Bayat ke Wedi jalannya rusak")
    assert place.kecamatan == "Bayat"
    assert place.reasons == ("place:kecamatan[Bayat,Wedi]",)


def test_kecamatan_named_twice_is_listed_once(gazetteer):
    assert locate(gazetteer, "Wedi, wedhi, Wedi").reasons == ("place:kecamatan[Wedi]",)


def test_no_place_named(gazetteer):
    assert locate(gazetteer, "jalan rusak parah") == Place(None, None, ())


# --- desa -------------------------------------------------------------------------------------


def test_unique_desa_infers_its_kecamatan(gazetteer):
    assert locate(gazetteer, "jalan di Pesu rusak") == Place(
        "Wedi", "Pesu", ("place:desa[Pesu,Wedi]", "place:kecamatan_from_desa[Wedi]")
    )


def test_multi_word_desa_is_found(gazetteer):
    place = locate(gazetteer, "talud di gunung gajah ambrol")
    assert (place.kecamatan, place.desa) == ("Bayat", "Gunung Gajah")


def test_unique_desa_with_its_kecamatan_named_needs_no_inference(gazetteer):
    assert locate(gazetteer, "desa Pesu kecamatan Wedi") == Place(
        "Wedi", "Pesu", ("place:kecamatan[Wedi]", "place:desa[Pesu,Wedi]")
    )


def test_desa_wins_over_a_different_kecamatan_named(gazetteer):
    place = locate(gazetteer, "warga Bayat lewat Pesu")
    assert (place.kecamatan, place.desa) == ("Wedi", "Pesu")
    assert place.reasons == ("place:kecamatan[Bayat]", "place:desa[Pesu,Wedi]", "place:kecamatan_from_desa[Wedi]")


def test_ambiguous_desa_resolved_by_the_kecamatan_named(gazetteer):
    assert locate(gazetteer, "jalan desa Jetis kec Bayat rusak") == Place(
        "Bayat", "Jetis", ("place:kecamatan[Bayat]", "place:desa[Jetis,Bayat]")
    )


def test_ambiguous_desa_without_kecamatan_is_left_unresolved_with_reason(gazetteer):
    assert locate(gazetteer, "jalan di Jetis rusak") == Place(
        None, None, ("place:desa_ambiguous[jetis:Bayat,Jatinom,Wedi]",)
    )


def test_ambiguous_desa_with_an_unrelated_kecamatan_keeps_the_kecamatan_only(gazetteer):
    assert locate(gazetteer, "Jetis klateng") == Place(
        "Klaten Tengah", None, ("place:kecamatan[Klaten Tengah]", "place:desa_ambiguous[jetis:Bayat,Jatinom,Wedi]")
    )


def test_resolvable_desa_after_an_ambiguous_one_still_counts(gazetteer):
    place = locate(gazetteer, "dari Jetis ke Pesu")
    assert (place.kecamatan, place.desa) == ("Wedi", "Pesu")
    assert place.reasons[0] == "place:desa_ambiguous[jetis:Bayat,Jatinom,Wedi]"


def test_unique_desa_named_twice_is_still_unique(gazetteer):
    assert locate(gazetteer, "Jalan desa Pesu rusak, warga Pesu kecewa") == Place(
        "Wedi", "Pesu", ("place:desa[Pesu,Wedi]", "place:kecamatan_from_desa[Wedi]")
    )


# --- names that need a marker -----------------------------------------------------------------


def test_marker_only_desa_is_ignored_without_a_marker(gazetteer):
    assert locate(gazetteer, "pak dukuh tidak ada di kantor") == Place(None, None, ())


@pytest.mark.parametrize("marker", ["desa", "ds", "kelurahan", "kel"])
def test_marker_only_desa_counts_after_a_marker(gazetteer, marker):
    place = locate(gazetteer, f"jalan {marker} Dukuh rusak")
    assert (place.kecamatan, place.desa) == ("Bayat", "Dukuh")


def test_marker_must_come_right_before_the_name(gazetteer):
    assert locate(gazetteer, "desa kami dukuh").desa is None


def test_marker_only_name_at_the_start_of_the_post_is_ignored(gazetteer):
    assert locate(gazetteer, "Dukuh gelap").desa is None


def test_desa_named_like_a_kecamatan_is_the_kecamatan_without_a_marker(gazetteer):
    assert locate(gazetteer, "pasar Jatinom macet") == Place("Jatinom", None, ("place:kecamatan[Jatinom]",))


def test_desa_named_like_a_kecamatan_counts_as_desa_after_a_marker(gazetteer):
    assert locate(gazetteer, "balai desa Jatinom tutup") == Place(
        "Jatinom", "Jatinom", ("place:kecamatan[Jatinom]", "place:desa[Jatinom,Jatinom]")
    )


def test_desa_lists_are_exposed(gazetteer):
    assert gazetteer.kecamatan == tuple(KECAMATAN)
    assert len(gazetteer.desa) == len(DESA)


@pytest.mark.parametrize(
    ("name", "expected"), [("Klaten Tengah", "klaten_tengah"), ("Wedi", "wedi"), ("Gunung  Gajah!", "gunung_gajah")]
)
def test_slug(name, expected):
    assert slug(name) == expected


# --- common-word names, typos, desa beside its kecamatan --------------------------------------


@pytest.fixture(scope="module")
def klaten_like() -> Gazetteer:
    kecamatan = ["Wedi", "Tulung", "Jatinom", "Prambanan", "Cawas", "Karangdowo"]
    desa = [("Sembung", "Wedi"), ("Puluhan", "Jatinom"), ("Tumpukan", "Karangdowo"), ("Sedayu", "Tulung")]
    return Gazetteer(kecamatan, desa, NORMALIZER, {}, ["Puluhan", "Tumpukan"], ["Wedi", "Tulung"])


@pytest.mark.parametrize("text", [
    "wedi aku lewat kono bengi-bengi",      # Javanese: "I am afraid"
    "tulung aku, tugas numpuk",             # Javanese: "help me"
    "nyuwun tulung sampah durung diangkut",
])
def test_kecamatan_that_is_an_ordinary_word_needs_a_context(klaten_like, text):
    assert locate(klaten_like, text).kecamatan is None


@pytest.mark.parametrize(("text", "kecamatan"), [
    ("jalan di kec. Wedi rusak", "Wedi"),
    ("pasar Wedi atapnya bocor", "Wedi"),
    ("lampu mati di Tulung", "Tulung"),
    ("kantor desa Sembung Wedi tutup", "Wedi"),
])
def test_kecamatan_that_is_an_ordinary_word_counts_in_context(klaten_like, text, kecamatan):
    assert locate(klaten_like, text).kecamatan == kecamatan


@pytest.mark.parametrize(("text", "kecamatan"), [
    ("PJU mati di jatinon depan pasar", "Jatinom"),     # substitution
    ("jalan di prambnan rusak", "Prambanan"),           # deletion
    ("jalan karangdowoo ambles", "Karangdowo"),         # insertion
    ("lampu mati di Cawaz", "Cawas"),                   # short name, after a context word
])
def test_one_letter_typo_of_a_kecamatan_is_tolerated(klaten_like, text, kecamatan):
    place = locate(klaten_like, text)
    assert place.kecamatan == kecamatan
    assert any(r.startswith("place:kecamatan_typo[") for r in place.reasons)


def test_short_name_typo_without_context_is_not_a_place(klaten_like):
    # "cawaz" is one letter from Cawas, but a five-letter word needs a context word before it.
    assert locate(klaten_like, "cawaz cawaz").kecamatan is None


def test_two_letter_typo_is_not_tolerated(klaten_like):
    assert locate(klaten_like, "jalan di jatinnon rusak").kecamatan is None


@pytest.mark.parametrize("text", ["tumpukan sampah makin tinggi", "puluhan motor jatuh"])
def test_marker_only_desa_that_is_a_common_word_is_not_a_place(klaten_like, text):
    assert locate(klaten_like, text) == Place(None, None, ())


def test_marker_only_desa_beside_its_own_kecamatan_counts(klaten_like):
    assert locate(klaten_like, "saluran di Puluhan, Jatinom mampet") == Place(
        "Jatinom", "Puluhan", ("place:kecamatan[Jatinom]", "place:desa[Puluhan,Jatinom]"))


def test_desa_of_a_context_only_kecamatan_names_it(klaten_like):
    assert locate(klaten_like, "air di desa Sedayu Tulung keruh") == Place(
        "Tulung", "Sedayu", ("place:kecamatan[Tulung]", "place:desa[Sedayu,Tulung]"))
