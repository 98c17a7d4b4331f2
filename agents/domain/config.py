"""Load and validate a deployment's configuration directory.

Configuration is data: taxonomy, lexicon, gazetteer, OPD directory, SLA policies and calendar.
Every problem is reported as one line naming the file and what is wrong, before any worker
touches Kafka. Another regency deploys by pointing TANGGAP_CONFIG (or --config) at its own copy.
"""

from __future__ import annotations

import csv
import dataclasses
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from agents.domain.assign import KECAMATAN_OWNER
from agents.domain.calendar import CalendarConfigError, RoundTheClock, WorkingCalendar
from agents.domain.classify import (DEFAULT_NEAR_WINDOW, DEFAULT_REVIEW_POLICY, FALLBACK_CATEGORY, KINDS, PRIORITIES,
                                     SCORED_KINDS, NearRule, ReviewPolicy, Rules)
from agents.domain.directory import Directory, Opd
from agents.domain.matching import PhraseIndex
from agents.domain.model import ModelError, TriageModel
from agents.domain.places import Gazetteer
from agents.domain.sla import (DEFAULT_LEVELS, LEVEL_AT_RISK, LEVEL_BREACHED, LEVEL_ESCALATED_OPD_HEAD,
                               LEVEL_ESCALATED_SEKDA, WHEN_KEYS, Budget, Level, Policy, SlaPolicies)
from agents.domain.text import Normalizer
from schemas.events import PLATFORMS

FILES = ("regency.toml", "opd.toml", "taxonomy.toml", "lexicon.toml", "sla.toml")
GAZETTEER_CSV = "gazetteer/wilayah.csv"
GAZETTEER_ALIASES = "gazetteer/aliases.toml"
MODEL_SETTINGS = "model.toml"
"""Optional: the learned triage model and how its scores combine with the rules."""


class ConfigError(Exception):
    """A configuration problem, phrased for the administrator who has to fix it."""


@dataclass(frozen=True)
class TanggapConfig:
    directory_path: Path
    regency_id: str
    regency_name: str
    timezone: ZoneInfo
    normalizer: Normalizer
    rules: Rules
    gazetteer: Gazetteer
    directory: Directory
    category_owner: Mapping[str, str]
    actionable_kinds: frozenset[str]
    sla: SlaPolicies
    model: TriageModel | None = None
    """The learned kind and category scorer; None: the rules decide alone."""
    outside_places: PhraseIndex[str] = dataclasses.field(default_factory=lambda: PhraseIndex(()))
    """Places well outside the regency (regency.toml outside_places): a complaint that names one
    and no place of the regency is probably not the regency's, so people read it."""
    review: ReviewPolicy = DEFAULT_REVIEW_POLICY

    def summary(self) -> str:
        kecamatan_offices = sum(1 for o in self.directory.opds.values() if o.kecamatan)
        return "\n".join([
            f"config {self.directory_path}: OK",
            f"  regency      {self.regency_name} ({self.regency_id}), time zone {self.timezone.key}",
            f"  OPDs         {len(self.directory.opds) - kecamatan_offices} offices + {kecamatan_offices} kecamatan offices,"
            f" triage desk {self.directory.triage_desk}",
            f"  gazetteer    {len(self.gazetteer.kecamatan)} kecamatan, {len(self.gazetteer.desa)} desa/kelurahan",
            f"  taxonomy     {len(self.category_owner)} categories",
            f"  SLA policies {', '.join(f'{p.id} ({p.first_response.describe()})' for p in self.sla.policies)}",
            f"  actionable   {', '.join(sorted(self.actionable_kinds))}",
            f"  model        " + (f"{self.model.manifest.get('features', '?')} features from "
                                  f"{self.model.manifest.get('examples', '?')} posts, needs_review below "
                                  f"{self.review.review_below:g}" if self.model else "none (rules only)"),
        ])


def _read_toml(root: Path, name: str) -> dict[str, Any]:
    path = root / name
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file missing (a config directory needs {', '.join(FILES)})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None


def _require(value: Any, kind: type | tuple[type, ...], where: str) -> Any:
    # TOML booleans are Python ints; a `true` where a number belongs is a mistake, not 1.
    is_bool_for_number = isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,))
    if is_bool_for_number or not isinstance(value, kind):
        expected = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ConfigError(f"{where}: expected {expected}, got {type(value).__name__} {value!r}")
    return value


def _string_list(value: Any, where: str) -> list[str]:
    _require(value, list, where)
    for i, item in enumerate(value):
        _require(item, str, f"{where}[{i}]")
    return value


def load_config(path: str | Path, *, with_model: bool = True) -> TanggapConfig:
    """The validated configuration; `with_model=False` skips the learned model (what training
    needs: the model it is about to write may not exist yet)."""
    root = Path(path)
    if not root.is_dir():
        raise ConfigError(f"{root}: config directory not found (set TANGGAP_CONFIG or pass --config)")
    regency_doc = _read_toml(root, "regency.toml")
    opd_doc = _read_toml(root, "opd.toml")
    taxonomy_doc = _read_toml(root, "taxonomy.toml")
    lexicon_doc = _read_toml(root, "lexicon.toml")
    sla_doc = _read_toml(root, "sla.toml")

    where = f"{root / 'regency.toml'}"
    regency = _require(regency_doc.get("regency"), dict, f"{where}: [regency]")
    for key in ("id", "name", "timezone", "triage_desk"):
        _require(regency.get(key), str, f"{where}: regency.{key}")
    try:
        tz = ZoneInfo(regency["timezone"])
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{where}: regency.timezone {regency['timezone']!r} is not a known time zone") from None
    actionable = _string_list(regency.get("actionable_kinds", ["pengaduan"]), f"{where}: regency.actionable_kinds")
    for kind in actionable:
        if kind not in KINDS:
            raise ConfigError(f"{where}: regency.actionable_kinds: unknown kind {kind!r} (known: {', '.join(KINDS)})")

    normalizer = _load_normalizer(root, lexicon_doc)
    gazetteer = _load_gazetteer(root, normalizer)
    outside = PhraseIndex((normalizer.terms(name), name) for name in
                          _string_list(regency.get("outside_places", []), f"{where}: regency.outside_places"))
    directory = _load_directory(root, opd_doc, regency["triage_desk"], gazetteer)
    owners, category_index, order = _load_taxonomy(root, taxonomy_doc, directory, normalizer)
    rules = _load_rules(root, lexicon_doc, normalizer, category_index, order, frozenset(actionable))
    rules = _with_near_rules(root, taxonomy_doc, lexicon_doc, normalizer, rules)
    sla = _load_sla(root, sla_doc, directory, owners, opd_doc)
    model, review = _load_model(root, owners) if with_model else (None, DEFAULT_REVIEW_POLICY)
    return TanggapConfig(
        directory_path=root, regency_id=regency["id"], regency_name=regency["name"], timezone=tz,
        normalizer=normalizer, rules=rules, gazetteer=gazetteer, directory=directory,
        category_owner=owners, actionable_kinds=frozenset(actionable), sla=sla,
        model=model, review=review, outside_places=outside,
    )


def _load_model(root: Path, categories: Mapping[str, str]) -> tuple[TriageModel | None, ReviewPolicy]:
    """model.toml, when the directory has one: the artifact (trained for this taxonomy) and the
    thresholds, each a share between 0 and 1."""
    if not (root / MODEL_SETTINGS).exists():
        return None, DEFAULT_REVIEW_POLICY
    where = f"{root / MODEL_SETTINGS}"
    section = _require(_read_toml(root, MODEL_SETTINGS).get("model"), dict, f"{where}: [model]")
    fields = {f.name for f in dataclasses.fields(ReviewPolicy)}
    unknown = set(section) - fields - {"file"}
    if unknown:
        raise ConfigError(f"{where}: model.{sorted(unknown)[0]}: unknown key (known: file, {', '.join(sorted(fields))})")
    values = {}
    for name in fields & set(section):
        value = float(_require(section[name], (int, float), f"{where}: model.{name}"))
        if not 0 <= value <= 1:
            raise ConfigError(f"{where}: model.{name}: must be between 0 and 1, got {value:g}")
        values[name] = value
    path = root / _require(section.get("file"), str, f"{where}: model.file")
    try:
        model = TriageModel.load(path)
    except ModelError as exc:
        raise ConfigError(str(exc)) from None
    if tuple(model.kinds) != KINDS:
        raise ConfigError(f"{path}: trained for kinds {', '.join(model.kinds)}, not {', '.join(KINDS)}: retrain it")
    if set(model.categories) != set(categories):
        missing = sorted(set(categories) ^ set(model.categories))
        raise ConfigError(f"{path}: trained for another taxonomy (differs in {', '.join(missing)}): "
                          f"retrain it with `tanggap train --config {root}`")
    return model, ReviewPolicy(**values)


def _load_normalizer(root: Path, doc: dict[str, Any]) -> Normalizer:
    where = f"{root / 'lexicon.toml'}: normalize.replacements"
    replacements = _require(doc.get("normalize", {}).get("replacements", {}), dict, where)
    for key, value in replacements.items():
        _require(value, str, f"{where}.{key}")
    return Normalizer(replacements)


def _load_gazetteer(root: Path, normalizer: Normalizer) -> Gazetteer:
    path = root / GAZETTEER_CSV
    kecamatan: list[str] = []
    desa: list[tuple[str, str]] = []
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = {"level", "nama", "kecamatan"} - set(reader.fieldnames or ())
            if missing:
                raise ConfigError(f"{path}: missing columns {', '.join(sorted(missing))}")
            for line, row in enumerate(reader, start=2):
                level, name = row["level"].strip(), row["nama"].strip()
                if not name:
                    raise ConfigError(f"{path}:{line}: empty nama")
                if level == "kecamatan":
                    kecamatan.append(name)
                elif level in ("desa", "kelurahan"):
                    desa.append((name, row["kecamatan"].strip()))
                elif level not in ("kabupaten", "kota"):
                    raise ConfigError(f"{path}:{line}: unknown level {level!r}")
    except FileNotFoundError:
        raise ConfigError(f"{path}: gazetteer file missing") from None
    known = set(kecamatan)
    for name, kec in desa:
        if kec not in known:
            raise ConfigError(f"{path}: desa {name!r} names unknown kecamatan {kec!r}")
    aliases_doc: dict[str, Any] = {}
    if (root / GAZETTEER_ALIASES).exists():
        aliases_doc = _read_toml(root, GAZETTEER_ALIASES)
    where = f"{root / GAZETTEER_ALIASES}"
    kec_aliases = _require(aliases_doc.get("kecamatan", {}), dict, f"{where}: [kecamatan]")
    for name, aliases in kec_aliases.items():
        if name not in known:
            raise ConfigError(f"{where}: kecamatan.{name}: not a kecamatan in {GAZETTEER_CSV}")
        _string_list(aliases, f"{where}: kecamatan.{name}")
    marker_only = _string_list(aliases_doc.get("desa_needs_marker", []), f"{where}: desa_needs_marker")
    context_only = _string_list(aliases_doc.get("kecamatan_needs_context", []), f"{where}: kecamatan_needs_context")
    for name in context_only:
        if name not in known:
            raise ConfigError(f"{where}: kecamatan_needs_context: {name!r} is not a kecamatan in {GAZETTEER_CSV}")
    place_context = aliases_doc.get("place_context")
    if place_context is not None:
        place_context = _string_list(place_context, f"{where}: place_context")
    return Gazetteer(kecamatan, desa, normalizer, kec_aliases, marker_only, context_only, place_context)


def _load_directory(root: Path, doc: dict[str, Any], triage_desk: str, gazetteer: Gazetteer) -> Directory:
    where = f"{root / 'opd.toml'}"
    entries = _require(doc.get("opd"), dict, f"{where}: [opd.*] tables")
    opds: dict[str, Opd] = {}

    def accounts(value: Any, at: str) -> dict[str, frozenset[str]]:
        _require(value, dict, at)
        result = {}
        for platform, handles in value.items():
            if platform not in PLATFORMS:
                raise ConfigError(f"{at}: unknown platform {platform!r} (known: {', '.join(PLATFORMS)})")
            result[platform] = frozenset(h.lower().lstrip("@") for h in _string_list(handles, f"{at}.{platform}"))
        return result

    for opd_id, entry in entries.items():
        at = f"{where}: opd.{opd_id}"
        _require(entry, dict, at)
        name = _require(entry.get("name"), str, f"{at}.name")
        opds[opd_id] = Opd(
            id=opd_id, name=name, short=entry.get("short", opd_id), head=entry.get("head", f"Kepala {name}"),
            accounts=accounts(entry.get("accounts", {}), f"{at}.accounts"),
            categories=frozenset(_string_list(entry.get("categories", []), f"{at}.categories")),
        )
    kecamatan_accounts = _require(doc.get("kecamatan_accounts", {}), dict, f"{where}: [kecamatan_accounts]")
    generated = {Directory.kecamatan_office_id(k): k for k in gazetteer.kecamatan}
    for office_id in kecamatan_accounts:
        if office_id not in generated:
            raise ConfigError(f"{where}: kecamatan_accounts.{office_id}: no such kecamatan office "
                              f"(ids look like {next(iter(generated), 'kec_name')})")
    for office_id, kecamatan in generated.items():
        if office_id in opds:
            raise ConfigError(f"{where}: opd.{office_id} clashes with the generated office of kecamatan {kecamatan}")
        opds[office_id] = Opd(
            id=office_id, name=f"Kecamatan {kecamatan}", short=f"Kec. {kecamatan}", head=f"Camat {kecamatan}",
            accounts=accounts(kecamatan_accounts.get(office_id, {}), f"{where}: kecamatan_accounts.{office_id}"),
            kecamatan=kecamatan,
        )
    if triage_desk not in opds:
        raise ConfigError(f"{root / 'regency.toml'}: regency.triage_desk {triage_desk!r} is not an OPD in opd.toml")
    return Directory(opds, triage_desk)


def _load_taxonomy(root: Path, doc: dict[str, Any], directory: Directory, normalizer: Normalizer):
    where = f"{root / 'taxonomy.toml'}"
    categories = _require(doc.get("category"), dict, f"{where}: [category.*] tables")
    if FALLBACK_CATEGORY not in categories:
        raise ConfigError(f"{where}: category.{FALLBACK_CATEGORY} is required (the fallback for unrecognized complaints)")
    owners: dict[str, str] = {}
    entries: list[tuple[tuple[str, ...], str]] = []
    for category, entry in categories.items():
        at = f"{where}: category.{category}"
        _require(entry, dict, at)
        owner = _require(entry.get("opd"), str, f"{at}.opd")
        if owner != KECAMATAN_OWNER and owner not in directory.opds:
            raise ConfigError(f"{at}.opd: {owner!r} is not an OPD in opd.toml (or \"{KECAMATAN_OWNER}\")")
        owners[category] = owner
        for term in _string_list(entry.get("terms", []), f"{at}.terms"):
            words = normalizer.terms(term)
            if not words:
                raise ConfigError(f"{at}.terms: {term!r} is empty after normalization")
            entries.append((words, category))
    for opd in directory.opds.values():
        for category in opd.categories:
            if category not in owners:
                raise ConfigError(f"{root / 'opd.toml'}: opd.{opd.id}.categories: unknown category {category!r}")
    order = {category: i for i, category in enumerate(categories)}
    return owners, PhraseIndex(entries), order


def _load_rules(root: Path, doc: dict[str, Any], normalizer: Normalizer, category_index: PhraseIndex[str],
                order: dict[str, int], actionable: frozenset[str]) -> Rules:
    where = f"{root / 'lexicon.toml'}"
    kinds = _require(doc.get("kind", {}), dict, f"{where}: [kind.*]")
    kind_entries: list[tuple[tuple[str, ...], str]] = []
    campaign_entries: list[tuple[tuple[str, ...], str]] = []
    pengaduan_word_lists: dict[str, frozenset[str]] = {}
    for kind, entry in kinds.items():
        _require(entry, dict, f"{where}: kind.{kind}")
        if kind not in (*SCORED_KINDS, "politik", "spam"):
            raise ConfigError(f"{where}: kind.{kind}: unknown kind (known: {', '.join((*SCORED_KINDS, 'politik', 'spam'))})")
        for term in _string_list(entry.get("terms", []), f"{where}: kind.{kind}.terms"):
            kind_entries.append((normalizer.terms(term), kind))
        if "campaign_terms" in entry:
            if kind != "politik":
                raise ConfigError(f"{where}: kind.{kind}.campaign_terms: only kind.politik has campaign terms")
            for term in _string_list(entry["campaign_terms"], f"{where}: kind.politik.campaign_terms"):
                campaign_entries.append((normalizer.terms(term), "politik"))
        for name in ("report_terms", "report_where_terms", "request_terms"):
            if name not in entry:
                continue
            if kind != "pengaduan":
                raise ConfigError(f"{where}: kind.{kind}.{name}: only kind.pengaduan has {name}")
            pengaduan_word_lists[name] = frozenset(_single_words(entry[name], normalizer, f"{where}: kind.pengaduan.{name}"))
    priorities = _require(doc.get("priority", {}), dict, f"{where}: [priority.*]")
    priority_entries: list[tuple[tuple[str, ...], str]] = []
    defaults: dict[str, str] = {}
    for level, entry in priorities.items():
        _require(entry, dict, f"{where}: priority.{level}")
        if level == "defaults":
            for kind, value in _require(entry, dict, f"{where}: priority.defaults").items():
                if kind not in KINDS or value not in PRIORITIES:
                    raise ConfigError(f"{where}: priority.defaults.{kind} = {value!r}: kind must be one of {', '.join(KINDS)}"
                                      f" and value one of {', '.join(PRIORITIES)}")
                defaults[kind] = value
            continue
        if level not in ("darurat", "tinggi"):
            raise ConfigError(f"{where}: priority.{level}: terms exist only for darurat and tinggi")
        for term in _string_list(entry.get("terms", []), f"{where}: priority.{level}.terms"):
            priority_entries.append((normalizer.terms(term), level))
    return Rules(
        kind_terms=PhraseIndex(kind_entries), campaign_terms=PhraseIndex(campaign_entries),
        category_terms=category_index, category_order=order, priority_terms=PhraseIndex(priority_entries),
        priority_defaults=defaults, actionable_kinds=actionable, **pengaduan_word_lists,
    )


def _single_words(value: Any, normalizer: Normalizer, at: str) -> list[str]:
    """Terms that must each be one word after normalization (matched word by word)."""
    words = []
    for term in _string_list(value, at):
        normalized = normalizer.terms(term)
        if len(normalized) != 1:
            raise ConfigError(f"{at}: {term!r} is {len(normalized)} words after normalization "
                              f"({' '.join(normalized) or 'none'}); each term must be one word")
        words.append(normalized[0])
    return words


def _with_near_rules(root: Path, taxonomy_doc: dict[str, Any], lexicon_doc: dict[str, Any],
                     normalizer: Normalizer, rules: Rules) -> Rules:
    """[[category.<id>.near]] proximity rules (objects, states, window) and priority_rules.apply_to."""
    where = f"{root / 'taxonomy.toml'}"
    near_rules: list[NearRule] = []
    entries: list[tuple[tuple[str, ...], tuple[int, str]]] = []
    for category, entry in taxonomy_doc.get("category", {}).items():
        for i, near in enumerate(_require(entry.get("near", []), list, f"{where}: category.{category}.near")):
            at = f"{where}: category.{category}.near[{i}]"
            _require(near, dict, at)
            unknown = set(near) - {"objects", "states", "window"}
            if unknown:
                raise ConfigError(f"{at}: unknown key {sorted(unknown)[0]!r} (known: objects, states, window)")
            window = _require(near.get("window", DEFAULT_NEAR_WINDOW), int, f"{at}.window")
            if not 0 <= window <= 12:
                raise ConfigError(f"{at}.window: must be between 0 and 12 words, got {window}")
            index = len(near_rules)
            near_rules.append(NearRule(category, window))
            for role, key in (("object", "objects"), ("state", "states")):
                terms = _string_list(near.get(key), f"{at}.{key}")
                if not terms:
                    raise ConfigError(f"{at}.{key}: needs at least one term")
                for term in terms:
                    words = normalizer.terms(term)
                    if not words:
                        raise ConfigError(f"{at}.{key}: {term!r} is empty after normalization")
                    entries.append((words, (index, role)))
    lexicon_where = f"{root / 'lexicon.toml'}: priority_rules.apply_to"
    apply_to = _string_list(lexicon_doc.get("priority_rules", {}).get("apply_to", ["pengaduan"]), lexicon_where)
    for kind in apply_to:
        if kind not in KINDS:
            raise ConfigError(f"{lexicon_where}: unknown kind {kind!r} (known: {', '.join(KINDS)})")
    return dataclasses.replace(rules, near_rules=tuple(near_rules), near_terms=PhraseIndex(entries) if entries else None,
                               priority_kinds=frozenset(apply_to))


def _load_sla(root: Path, doc: dict[str, Any], directory: Directory, owners: Mapping[str, str],
              opd_doc: Mapping[str, Any] | None = None) -> SlaPolicies:
    where = f"{root / 'sla.toml'}"
    calendar_doc = dict(_require(doc.get("calendar"), dict, f"{where}: [calendar]"))
    opd_clock = _require(calendar_doc.pop("opd_clock", {}), dict, f"{where}: calendar.opd_clock")
    for opd, clock in opd_clock.items():
        if opd not in directory.opds:
            raise ConfigError(f"{where}: calendar.opd_clock.{opd}: not an OPD in opd.toml")
        if clock != "24x7":
            raise ConfigError(f"{where}: calendar.opd_clock.{opd}: only \"24x7\" is supported, got {clock!r}")
    try:
        working = WorkingCalendar.from_config(calendar_doc)
    except CalendarConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None

    known_values = {"kind": set(KINDS), "category": set(owners), "priority": set(PRIORITIES), "opd": set(directory.opds)}
    policies: list[Policy] = []
    for i, entry in enumerate(_require(doc.get("policy"), list, f"{where}: [[policy]]")):
        at = f"{where}: policy[{i}]"
        policy_id = _require(entry.get("id"), str, f"{at}.id")
        at = f"{where}: policy {policy_id!r}"
        when: dict[str, frozenset[str]] = {}
        for key, values in _require(entry.get("when", {}), dict, f"{at}.when").items():
            if key not in WHEN_KEYS:
                raise ConfigError(f"{at}.when.{key}: unknown key (known: {', '.join(WHEN_KEYS)})")
            for value in _string_list(values, f"{at}.when.{key}"):
                if value not in known_values[key]:
                    raise ConfigError(f"{at}.when.{key}: unknown {key} {value!r}")
            when[key] = frozenset(values)
        resolution = entry.get("resolution")
        policies.append(Policy(policy_id, when, _budget(entry.get("first_response"), f"{at}.first_response"),
                               None if resolution is None else _budget(resolution, f"{at}.resolution")))
    if not policies:
        raise ConfigError(f"{where}: at least one [[policy]] is required")
    escalation = _require((opd_doc or {}).get("escalation", {}), dict, f"{root / 'opd.toml'}: [escalation]")
    sekda = _require(escalation.get("sekda", "Sekretaris Daerah"), str, f"{root / 'opd.toml'}: escalation.sekda")
    return SlaPolicies(tuple(policies), working, RoundTheClock(), frozenset(opd_clock),
                       levels=_sla_levels(_require(doc.get("alerts", {}), dict, f"{where}: [alerts]"), f"{where}: alerts"),
                       opd_heads={opd.id: opd.head for opd in directory.opds.values()}, sekda=sekda)


def _sla_levels(alerts: Mapping[str, Any], at: str) -> tuple[Level, ...]:
    """at_risk_share (0 < share < 1) and the escalation multiples (> 1, the OPD head's below the Sekda's)."""
    defaults = {level.name: level.multiple for level in DEFAULT_LEVELS}
    keys = {"at_risk_share": LEVEL_AT_RISK, "escalate_opd_head_at": LEVEL_ESCALATED_OPD_HEAD,
            "escalate_sekda_at": LEVEL_ESCALATED_SEKDA}
    for key in alerts:
        if key not in keys:
            raise ConfigError(f"{at}.{key}: unknown key (known: {', '.join(keys)})")
    multiples = {name: float(_require(alerts.get(key, defaults[name]), (int, float), f"{at}.{key}"))
                 for key, name in keys.items()}
    if not 0 < multiples[LEVEL_AT_RISK] < 1:
        raise ConfigError(f"{at}.at_risk_share: must be between 0 and 1 (exclusive), got {multiples[LEVEL_AT_RISK]:g}")
    if not 1 < multiples[LEVEL_ESCALATED_OPD_HEAD] < multiples[LEVEL_ESCALATED_SEKDA]:
        raise ConfigError(f"{at}: need 1 < escalate_opd_head_at < escalate_sekda_at, got "
                          f"{multiples[LEVEL_ESCALATED_OPD_HEAD]:g} and {multiples[LEVEL_ESCALATED_SEKDA]:g}")
    return (Level(LEVEL_AT_RISK, multiples[LEVEL_AT_RISK]), Level(LEVEL_BREACHED, 1.0),
            Level(LEVEL_ESCALATED_OPD_HEAD, multiples[LEVEL_ESCALATED_OPD_HEAD], "opd_head"),
            Level(LEVEL_ESCALATED_SEKDA, multiples[LEVEL_ESCALATED_SEKDA], "sekda"))


def _budget(value: Any, at: str) -> Budget:
    _require(value, dict, at)
    if "working_days" in value:
        days = _require(value["working_days"], int, f"{at}.working_days")
        if days <= 0 or set(value) - {"working_days"}:
            raise ConfigError(f"{at}: working_days must be a positive integer and stand alone")
        return Budget(None, days, False)
    hours = _require(value.get("hours"), (int, float), f"{at}.hours")
    clock = value.get("clock", "working")
    if hours <= 0 or clock not in ("24x7", "working"):
        raise ConfigError(f"{at}: hours must be positive and clock \"24x7\" or \"working\", got {value!r}")
    return Budget(float(hours), None, clock == "24x7")
