"""Unit tests for agents/domain/assign.py and agents/domain/directory.py with a small directory."""

from __future__ import annotations

import pytest

from agents.domain.assign import KECAMATAN_OWNER, Assignment, assign
from agents.domain.classify import Classification
from agents.domain.directory import Directory, Opd
from agents.domain.places import Place


def opd(opd_id: str, accounts: dict[str, list[str]], *, categories: tuple[str, ...] = (), kecamatan: str | None = None) -> Opd:
    return Opd(
        id=opd_id,
        name=opd_id.upper(),
        short=opd_id,
        head=f"Kepala {opd_id}",
        accounts={platform: frozenset(handles) for platform, handles in accounts.items()},
        categories=frozenset(categories),
        kecamatan=kecamatan,
    )


DIRECTORY = Directory(
    {
        "diskominfo": opd("diskominfo", {"twitter": ["pemkabklaten"], "instagram": ["pemkabklaten", "diskominfo.klaten"]}),
        "dpupr": opd("dpupr", {"twitter": ["dpuprklaten"], "instagram": ["dpupr.klaten"]}),
        "dlh": opd("dlh", {"twitter": ["dlhklaten"]}),
        # Satpol PP also takes rubbish complaints addressed to it (illegal dumping is enforcement).
        "satpolpp": opd("satpolpp", {"twitter": ["satpolppklaten"]}, categories=("lingkungan",)),
        "kec_wedi": opd("kec_wedi", {"instagram": ["kecamatan.wedi"]}, kecamatan="Wedi"),
        "kec_bayat": opd("kec_bayat", {}, kecamatan="Bayat"),
    },
    triage_desk="diskominfo",
)
OWNERS = {
    "jalan": "dpupr",
    "lingkungan": "dlh",
    "pelayanan_desa": KECAMATAN_OWNER,
    "lainnya": "diskominfo",
}
NOWHERE = Place(None, None, ())


def complaint(category: str | None) -> Classification:
    return Classification("pengaduan", category, "normal", ())


def run(category: str | None, *, place: Place = NOWHERE, addressed: tuple[str, ...] = ()) -> Assignment:
    return assign(complaint(category), place, addressed, DIRECTORY, OWNERS)


# --- category owner and addressed OPDs --------------------------------------------------------


def test_category_goes_to_its_default_owner():
    assert run("jalan") == Assignment("dpupr", ("assign:dpupr[default owner of category jalan]",))


def test_addressed_opd_that_owns_the_category_wins():
    result = run("jalan", addressed=("pemkabklaten", "dpuprklaten"))
    assert result == Assignment("dpupr", ("assign:dpupr[addressed and owns category jalan]",))


def test_addressed_opd_that_does_not_own_the_category_is_ignored():
    assert run("jalan", addressed=("dlhklaten",)).opd == "dpupr"


def test_addressed_opd_with_extra_categories_wins_over_the_default_owner():
    result = run("lingkungan", addressed=("satpolppklaten",))
    assert result == Assignment("satpolpp", ("assign:satpolpp[addressed and owns category lingkungan]",))


def test_extra_categories_only_count_when_addressed():
    assert run("lingkungan").opd == "dlh"


def test_first_addressed_owner_wins():
    assert run("lingkungan", addressed=("satpolppklaten", "dlhklaten")).opd == "satpolpp"
    assert run("lingkungan", addressed=("dlhklaten", "satpolppklaten")).opd == "dlh"


def test_addressed_handles_match_case_insensitively_and_with_at_sign():
    assert run("lingkungan", addressed=("@SatpolPPKlaten",)).opd == "satpolpp"


# --- kecamatan offices ------------------------------------------------------------------------


def test_kecamatan_category_goes_to_the_office_of_the_named_kecamatan():
    result = run("pelayanan_desa", place=Place("Wedi", "Pesu", ()))
    assert result == Assignment("kec_wedi", ("assign:kec_wedi[category pelayanan_desa goes to the kecamatan office]",))


def test_kecamatan_category_without_kecamatan_goes_to_the_triage_desk():
    result = run("pelayanan_desa")
    assert result == Assignment(
        "diskominfo", ("assign:diskominfo[category pelayanan_desa but no kecamatan named]",)
    )


def test_kecamatan_category_follows_the_place_not_the_addressed_opd():
    assert run("pelayanan_desa", place=Place("Bayat", None, ()), addressed=("dpuprklaten",)).opd == "kec_bayat"


def test_kecamatan_category_addressed_to_a_kecamatan_office_goes_to_that_office():
    assert run("pelayanan_desa", addressed=("kecamatan.wedi",)).opd == "kec_wedi"


# --- no owner ---------------------------------------------------------------------------------


@pytest.mark.parametrize("category", [None, "tidak_dikenal"])
def test_no_owner_and_nobody_addressed_goes_to_the_triage_desk(category):
    result = run(category)
    assert result == Assignment("diskominfo", ("assign:diskominfo[no owner found]",))


def test_no_owner_goes_to_the_addressed_opd():
    result = run("tidak_dikenal", addressed=("dlhklaten", "dpuprklaten"))
    assert result == Assignment("dlh", ("assign:dlh[addressed, no category owner]",))


def test_no_owner_skips_the_triage_desk_among_addressed_opds():
    assert run("tidak_dikenal", addressed=("pemkabklaten", "dpuprklaten")).opd == "dpupr"


def test_no_owner_addressed_only_to_the_triage_desk_goes_to_the_triage_desk():
    assert run("tidak_dikenal", addressed=("pemkabklaten",)).reasons == ("assign:diskominfo[no owner found]",)


def test_unknown_handles_are_ignored():
    assert run("tidak_dikenal", addressed=("someone_else",)).opd == "diskominfo"


# --- directory --------------------------------------------------------------------------------


def test_official_account_is_recognised_per_platform():
    assert DIRECTORY.official_opd("twitter", "dpuprklaten") == "dpupr"
    assert DIRECTORY.official_opd("instagram", "dpupr.klaten") == "dpupr"


def test_handle_of_another_platform_is_not_official():
    assert DIRECTORY.official_opd("instagram", "dpuprklaten") is None
    assert DIRECTORY.official_opd("facebook", "dpuprklaten") is None


@pytest.mark.parametrize("handle", ["DPUPRKlaten", "@dpuprklaten"])
def test_official_account_handle_is_case_and_at_insensitive(handle):
    assert DIRECTORY.official_opd("twitter", handle) == "dpupr"


@pytest.mark.parametrize("handle", [None, "", "warga_wedi"])
def test_missing_or_citizen_handle_is_not_official(handle):
    assert DIRECTORY.official_opd("twitter", handle) is None


def test_opds_for_handles_keeps_first_addressed_order_without_duplicates():
    handles = ["dlhklaten", "pemkabklaten", "DLHKLATEN", "nobody", "dpupr.klaten"]
    assert DIRECTORY.opds_for_handles(handles) == ["dlh", "diskominfo", "dpupr"]


def test_kecamatan_office_lookup_and_id():
    assert DIRECTORY.kecamatan_office("Wedi") == "kec_wedi"
    assert Directory.kecamatan_office_id("Klaten Tengah") == "kec_klaten_tengah"


def test_extra_categories_of_unknown_opd_are_empty():
    assert DIRECTORY.extra_categories("satpolpp") == frozenset({"lingkungan"})
    assert DIRECTORY.extra_categories("nope") == frozenset()
