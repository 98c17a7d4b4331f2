"""Decide who owns a complaint: the OPD for its category, the OPD it was addressed to, the
kecamatan office for desa services, or the triage desk when nothing decides."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from agents.domain.classify import Classification
from agents.domain.directory import Directory
from agents.domain.places import Place

KECAMATAN_OWNER = "kecamatan"
"""Taxonomy owner value meaning "the office of the kecamatan the post names"."""


@dataclass(frozen=True, slots=True)
class Assignment:
    opd: str
    reasons: tuple[str, ...]


def assign(
    classification: Classification,
    place: Place,
    addressed_handles: Iterable[str],
    directory: Directory,
    category_owner: dict[str, str],
) -> Assignment:
    category = classification.category or ""
    owner = category_owner.get(category)
    addressed = directory.opds_for_handles(addressed_handles)

    if owner == KECAMATAN_OWNER:
        if place.kecamatan is not None:
            opd = directory.kecamatan_office(place.kecamatan)
            return Assignment(opd, (f"assign:{opd}[category {category} goes to the kecamatan office]",))
        offices = [opd for opd in addressed if directory.opds[opd].kecamatan is not None]
        if offices:
            return Assignment(offices[0], (f"assign:{offices[0]}[category {category}, addressed to the kecamatan office]",))
        return Assignment(
            directory.triage_desk,
            (f"assign:{directory.triage_desk}[category {category} but no kecamatan named]",),
        )

    for opd in addressed:
        if opd == owner or category in directory.extra_categories(opd):
            return Assignment(opd, (f"assign:{opd}[addressed and owns category {category}]",))

    if owner is not None:
        return Assignment(owner, (f"assign:{owner}[default owner of category {category}]",))

    non_desk = [opd for opd in addressed if opd != directory.triage_desk]
    if non_desk:
        return Assignment(non_desk[0], (f"assign:{non_desk[0]}[addressed, no category owner]",))
    return Assignment(directory.triage_desk, (f"assign:{directory.triage_desk}[no owner found]",))
