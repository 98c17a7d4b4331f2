"""The OPD directory: the offices that own complaints and the accounts that speak for them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from agents.domain.places import slug


@dataclass(frozen=True, slots=True)
class Opd:
    id: str
    name: str
    short: str
    head: str
    accounts: Mapping[str, frozenset[str]]
    """platform -> lowercased handles without "@"."""
    categories: frozenset[str] = frozenset()
    """Categories this OPD also owns besides the taxonomy default (for addressed posts)."""
    kecamatan: str | None = None


@dataclass(frozen=True)
class Directory:
    opds: Mapping[str, Opd]
    triage_desk: str
    _by_handle: dict[str, str] = field(default_factory=dict, init=False, repr=False)
    _by_platform_handle: dict[tuple[str, str], str] = field(default_factory=dict, init=False, repr=False)
    _kecamatan_office: dict[str, str] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        for opd in self.opds.values():
            for platform, handles in opd.accounts.items():
                for handle in handles:
                    self._by_platform_handle[(platform, handle)] = opd.id
                    self._by_handle.setdefault(handle, opd.id)
            if opd.kecamatan is not None:
                self._kecamatan_office[opd.kecamatan] = opd.id

    @staticmethod
    def kecamatan_office_id(kecamatan: str) -> str:
        return f"kec_{slug(kecamatan)}"

    def kecamatan_office(self, kecamatan: str) -> str:
        return self._kecamatan_office[kecamatan]

    def official_opd(self, platform: str, handle: str | None) -> str | None:
        """The OPD whose official account on `platform` is `handle`, if any."""
        if not handle:
            return None
        return self._by_platform_handle.get((platform, handle.lower().lstrip("@")))

    def opds_for_handles(self, handles: Iterable[str]) -> list[str]:
        """OPDs addressed by handles (any platform), in the order first addressed."""
        found: list[str] = []
        for handle in handles:
            opd = self._by_handle.get(handle.lower().lstrip("@"))
            if opd is not None and opd not in found:
                found.append(opd)
        return found

    def extra_categories(self, opd: str) -> frozenset[str]:
        entry = self.opds.get(opd)
        return entry.categories if entry else frozenset()
