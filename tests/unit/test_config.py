"""Unit tests for agents/domain/config.py (load_config errors and summary) and streams/settings.py.

Each error test copies the bundled configuration to a temporary directory, breaks one thing,
and checks that load_config raises ConfigError with a message naming the broken file.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from agents.domain.config import ConfigError, TanggapConfig, load_config
from streams.settings import SETTINGS, Settings, SettingsError, describe

REPO = Path(__file__).resolve().parents[2]
BUNDLED = REPO / "deploy" / "config" / "klaten"


@pytest.fixture
def cfg(tmp_path) -> Path:
    """A private copy of the bundled configuration, for a test to break."""
    target = tmp_path / "klaten"
    shutil.copytree(BUNDLED, target)
    return target


def append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write("\n" + text + "\n")


def replace(path: Path, old: str, new: str) -> None:
    content = path.read_text(encoding="utf-8")
    assert old in content, f"{old!r} not in {path}"
    path.write_text(content.replace(old, new, 1), encoding="utf-8")


def load_error(directory: Path) -> str:
    with pytest.raises(ConfigError) as excinfo:
        load_config(directory)
    message = str(excinfo.value)
    assert "\n" not in message, "a config error is one line"
    return message


# --- happy path -------------------------------------------------------------------------------


def test_bundled_config_loads_and_summarises(config):
    assert isinstance(config, TanggapConfig)
    summary = config.summary()
    lines = summary.splitlines()
    assert lines[0] == f"config {BUNDLED}: OK"
    assert "Kabupaten Klaten (klaten), time zone Asia/Jakarta" in summary
    assert "triage desk diskominfo" in summary
    assert f"{len(config.gazetteer.kecamatan)} kecamatan" in summary
    assert f"{len(config.category_owner)} categories" in summary
    assert "darurat (1 hours round the clock)" in summary
    assert "tinggi (4 hours working time)" in summary
    assert "rendah (3 working days)" in summary
    assert "actionable   aspirasi, pengaduan, permintaan_informasi" in summary


def test_bundled_config_generates_one_office_per_kecamatan(config):
    offices = [o for o in config.directory.opds.values() if o.kecamatan]
    assert len(offices) == len(config.gazetteer.kecamatan)
    assert config.directory.kecamatan_office("Wedi") == "kec_wedi"
    assert config.directory.official_opd("instagram", "kecamatan.wedi") == "kec_wedi"


def test_every_taxonomy_owner_is_an_opd_or_the_kecamatan_office(config):
    for category, owner in config.category_owner.items():
        assert owner == "kecamatan" or owner in config.directory.opds, category
    assert "lainnya" in config.category_owner


def test_missing_directory(tmp_path):
    message = load_error(tmp_path / "nope")
    assert str(tmp_path / "nope") in message
    assert "config directory not found" in message


# --- one broken thing per test ----------------------------------------------------------------


@pytest.mark.parametrize("name", ["regency.toml", "opd.toml", "taxonomy.toml", "lexicon.toml", "sla.toml"])
def test_missing_file(cfg, name):
    (cfg / name).unlink()
    message = load_error(cfg)
    assert str(cfg / name) in message
    assert "file missing" in message


def test_missing_gazetteer(cfg):
    (cfg / "gazetteer" / "wilayah.csv").unlink()
    assert "wilayah.csv: gazetteer file missing" in load_error(cfg)


@pytest.mark.parametrize("name", ["regency.toml", "opd.toml", "sla.toml", "gazetteer/aliases.toml"])
def test_invalid_toml(cfg, name):
    append(cfg / name, "this is = = not toml [")
    message = load_error(cfg)
    assert str(cfg / name) in message
    assert "invalid TOML" in message


def test_unknown_opd_in_taxonomy(cfg):
    append(cfg / "taxonomy.toml", '[category.hantu]\nlabel = "Hantu"\nopd = "dinas_hantu"\nterms = ["hantu"]')
    message = load_error(cfg)
    assert str(cfg / "taxonomy.toml") in message
    assert "category.hantu.opd" in message
    assert "'dinas_hantu' is not an OPD" in message


def test_taxonomy_without_fallback_category(cfg):
    replace(cfg / "taxonomy.toml", "[category.lainnya]", "[category.lain_lain]")
    message = load_error(cfg)
    assert str(cfg / "taxonomy.toml") in message
    assert "category.lainnya is required" in message


def test_unknown_platform_in_accounts(cfg):
    append(cfg / "opd.toml", '[opd.dinas_baru]\nname = "Dinas Baru"\naccounts = { myspace = ["dinasbaru"] }')
    message = load_error(cfg)
    assert str(cfg / "opd.toml") in message
    assert "opd.dinas_baru.accounts" in message
    assert "unknown platform 'myspace'" in message


def test_unknown_kecamatan_office_in_kecamatan_accounts(cfg):
    replace(cfg / "opd.toml", "[kecamatan_accounts]\n", '[kecamatan_accounts]\nkec_atlantis = { instagram = ["x"] }\n')
    message = load_error(cfg)
    assert str(cfg / "opd.toml") in message
    assert "kec_atlantis" in message


def test_triage_desk_not_an_opd(cfg):
    replace(cfg / "regency.toml", 'triage_desk = "diskominfo"', 'triage_desk = "meja_hantu"')
    message = load_error(cfg)
    assert str(cfg / "regency.toml") in message
    assert "regency.triage_desk 'meja_hantu' is not an OPD" in message


def test_unknown_kind_in_actionable_kinds(cfg):
    replace(cfg / "regency.toml", 'actionable_kinds = ["pengaduan",', 'actionable_kinds = ["keluhan", "pengaduan",')
    message = load_error(cfg)
    assert str(cfg / "regency.toml") in message
    assert "unknown kind 'keluhan'" in message


def test_unknown_timezone(cfg):
    replace(cfg / "regency.toml", 'timezone = "Asia/Jakarta"', 'timezone = "Asia/Atlantis"')
    message = load_error(cfg)
    assert str(cfg / "regency.toml") in message
    assert "'Asia/Atlantis' is not a known time zone" in message


def test_unknown_calendar_timezone(cfg):
    replace(cfg / "sla.toml", 'timezone = "Asia/Jakarta"', 'timezone = "Asia/Atlantis"')
    message = load_error(cfg)
    assert str(cfg / "sla.toml") in message
    assert "Asia/Atlantis" in message


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ('{ colour = ["merah"] }', "when.colour: unknown key"),
        ('{ priority = ["sangat"] }', "when.priority: unknown priority 'sangat'"),
        ('{ opd = ["dinas_hantu"] }', "when.opd: unknown opd 'dinas_hantu'"),
        ('{ category = ["hantu"] }', "when.category: unknown category 'hantu'"),
        ('{ kind = ["keluhan"] }', "when.kind: unknown kind 'keluhan'"),
        ('{ priority = "darurat" }', "when.priority: expected list"),
    ],
)
def test_bad_policy_when(cfg, when, expected):
    append(cfg / "sla.toml", f'[[policy]]\nid = "rusak"\nwhen = {when}\nfirst_response = {{ hours = 1 }}')
    message = load_error(cfg)
    assert str(cfg / "sla.toml") in message
    assert "policy 'rusak'" in message
    assert expected in message


@pytest.mark.parametrize(
    "budget",
    [
        "{ hours = -1 }",
        "{ hours = 0 }",
        '{ hours = 2, clock = "sometimes" }',
        '{ hours = "4" }',
        "{ }",
        "{ working_days = 0 }",
        "{ working_days = 2, hours = 3 }",
        "{ working_days = 1.5 }",
    ],
)
def test_bad_budget(cfg, budget):
    append(cfg / "sla.toml", f'[[policy]]\nid = "rusak"\nfirst_response = {budget}')
    message = load_error(cfg)
    assert str(cfg / "sla.toml") in message
    assert "policy 'rusak'.first_response" in message


@pytest.mark.parametrize("budget", ["{ working_days = true }", "{ hours = true }"])
def test_boolean_budget_is_rejected(cfg, budget):
    # TOML booleans are Python ints: `true` must not pass for 1.
    append(cfg / "sla.toml", f'[[policy]]\nid = "rusak"\nfirst_response = {budget}')
    message = load_error(cfg)
    assert str(cfg / "sla.toml") in message
    assert "got bool True" in message


def test_policy_list_must_not_be_empty(cfg):
    # Rename every [[policy]] table so the file has none left.
    path = cfg / "sla.toml"
    path.write_text(path.read_text(encoding="utf-8").replace("[[policy]]", "[[retired_policy]]"), encoding="utf-8")
    message = load_error(cfg)
    assert str(path) in message
    assert "[[policy]]" in message


def test_opd_clock_names_unknown_opd(cfg):
    replace(cfg / "sla.toml", 'bpbd = "24x7"', 'bpbd = "24x7"\ndinas_hantu = "24x7"')
    message = load_error(cfg)
    assert str(cfg / "sla.toml") in message
    assert "calendar.opd_clock.dinas_hantu" in message


def test_gazetteer_desa_with_unknown_kecamatan(cfg):
    append(cfg / "gazetteer" / "wilayah.csv", "33.10.99.2001,desa,Hantu,Atlantis")
    message = load_error(cfg)
    assert str(cfg / "gazetteer" / "wilayah.csv") in message
    assert "desa 'Hantu' names unknown kecamatan 'Atlantis'" in message


def test_gazetteer_unknown_level(cfg):
    append(cfg / "gazetteer" / "wilayah.csv", "33.10.99.2001,dusun,Hantu,Wedi")
    message = load_error(cfg)
    assert str(cfg / "gazetteer" / "wilayah.csv") in message
    assert "unknown level 'dusun'" in message


def test_aliases_for_unknown_kecamatan(cfg):
    replace(cfg / "gazetteer" / "aliases.toml", "[kecamatan]\n", '[kecamatan]\n"Atlantis" = ["atlan"]\n')
    message = load_error(cfg)
    assert str(cfg / "gazetteer" / "aliases.toml") in message
    assert "kecamatan.Atlantis: not a kecamatan" in message


def test_unknown_kind_in_lexicon(cfg):
    append(cfg / "lexicon.toml", '[kind.keluhan]\nterms = ["keluh"]')
    message = load_error(cfg)
    assert str(cfg / "lexicon.toml") in message
    assert "kind.keluhan: unknown kind" in message


def test_priority_terms_only_for_darurat_and_tinggi(cfg):
    append(cfg / "lexicon.toml", '[priority.rendah]\nterms = ["santai"]')
    message = load_error(cfg)
    assert str(cfg / "lexicon.toml") in message
    assert "priority.rendah" in message


def test_report_terms_only_for_pengaduan(cfg):
    replace(cfg / "lexicon.toml", "[kind.aspirasi]\n", '[kind.aspirasi]\nreport_terms = ["usul"]\n')
    message = load_error(cfg)
    assert "kind.aspirasi.report_terms: only kind.pengaduan has report_terms" in message


def test_a_report_term_of_several_words_is_refused(cfg):
    replace(cfg / "lexicon.toml", 'report_terms = ["lapor",', 'report_terms = ["izin lapor", "lapor",')
    message = load_error(cfg)
    assert str(cfg / "lexicon.toml") in message
    assert "kind.pengaduan.report_terms: 'izin lapor' is 2 words after normalization" in message


def test_kind_entry_that_is_not_a_table(cfg):
    replace(cfg / "lexicon.toml", "[kind.spam]\n", '[kind]\nspam = "slot gacor"\n[retired_spam]\n')
    message = load_error(cfg)
    assert str(cfg / "lexicon.toml") in message
    assert "kind.spam: expected dict" in message


# --- streams/settings.py ----------------------------------------------------------------------


def test_settings_defaults():
    settings = Settings.from_env({})
    assert settings.broker == ""
    assert settings.config_dir == BUNDLED
    assert settings.app_id == "tanggap"
    assert settings.topic_prefix == "tanggap."
    assert settings.partitions == 4
    assert settings.replication == 1
    assert settings.data_dir == Path("var/tanggap")
    assert settings.store == "rocksdb://"
    assert (settings.web_host, settings.web_port) == ("127.0.0.1", 6066)
    assert settings.log_level == "info"
    assert settings.sla_tick_seconds == 0.25
    assert settings.sla_grace_seconds == 5.0
    assert settings.orphan_wait_seconds == 60.0
    assert settings.clock_speed is None
    assert settings.producer_max_batch_bytes is None
    assert settings.rebalance_timeout is None
    assert settings.session_timeout is None
    assert settings.heartbeat_interval is None
    assert settings.embedded_port == 9092
    assert settings.topic("posts.raw") == "tanggap.posts.raw"


def test_settings_read_values_and_strip_whitespace(tmp_path):
    settings = Settings.from_env({
        "TANGGAP_BROKER": " kafka-1:9092,kafka-2:9092 ",
        "TANGGAP_PARTITIONS": "12",
        "TANGGAP_CLOCK_SPEED": "60",
        "TANGGAP_LOG_LEVEL": "DEBUG",
        "TANGGAP_STORE": "memory://",
        "TANGGAP_SLA_GRACE_SECONDS": "0",
        "TANGGAP_TOPIC_PREFIX": "klaten.",
    })
    assert settings.broker == "kafka-1:9092,kafka-2:9092"
    assert settings.partitions == 12
    assert settings.clock_speed == 60.0
    assert settings.log_level == "debug"
    assert settings.store == "memory://"
    assert settings.sla_grace_seconds == 0.0
    assert settings.topic("complaints") == "klaten.complaints"


def test_tanggap_config_overrides_the_bundled_directory(tmp_path):
    assert Settings.from_env({"TANGGAP_CONFIG": str(tmp_path)}).config_dir == tmp_path


def test_with_changes_returns_a_new_settings():
    settings = Settings.from_env({})
    changed = settings.with_changes(broker="localhost:9092")
    assert changed.broker == "localhost:9092"
    assert settings.broker == ""


@pytest.mark.parametrize(
    ("env", "value", "fragment"),
    [
        ("TANGGAP_PARTITIONS", "four", "is not a number"),
        ("TANGGAP_PARTITIONS", "0", "must be positive"),
        ("TANGGAP_PARTITIONS", "-3", "must be positive"),
        ("TANGGAP_PARTITIONS", "2.5", "must be a whole number"),
        ("TANGGAP_WEB_PORT", "http", "is not a number"),
        ("TANGGAP_SLA_TICK_SECONDS", "0", "must be positive"),
        ("TANGGAP_SLA_GRACE_SECONDS", "-1", "must not be negative"),
        ("TANGGAP_CLOCK_SPEED", "fast", "is not a number"),
        ("TANGGAP_SESSION_TIMEOUT", "-10", "must be positive"),
        ("TANGGAP_EMBEDDED_PORT", "90.92", "must be a whole number"),
    ],
)
def test_bad_numbers_raise_settings_error(env, value, fragment):
    with pytest.raises(SettingsError) as excinfo:
        Settings.from_env({env: value})
    assert env in str(excinfo.value)
    assert fragment in str(excinfo.value)


@pytest.mark.parametrize(
    ("env", "value"),
    [("TANGGAP_PARTITIONS", "inf"), ("TANGGAP_PARTITIONS", "nan"), ("TANGGAP_SLA_TICK_SECONDS", "nan")],
)
def test_non_finite_numbers_raise_settings_error(env, value):
    with pytest.raises(SettingsError):
        Settings.from_env({env: value})


@pytest.mark.parametrize("value", ["0", "0.0", "0.00", "00", ""])
def test_grace_seconds_zero_in_any_spelling(value):
    assert Settings.from_env({"TANGGAP_SLA_GRACE_SECONDS": value}).sla_grace_seconds == 0.0


@pytest.mark.parametrize(("env", "value"), [("TANGGAP_LOG_LEVEL", "loud"), ("TANGGAP_STORE", "redis://")])
def test_bad_choices_raise_settings_error(env, value):
    with pytest.raises(SettingsError, match=env):
        Settings.from_env({env: value})


def test_describe_lists_every_setting():
    table = describe()
    for setting in SETTINGS:
        assert setting.env in table


# --- proximity rules, priority scope, place context, the second example regency -----


@pytest.mark.parametrize(("block", "fragment"), [
    ('[[category.jalan.near]]\nobjects = ["jalan"]\nstates = []', "category.jalan.near[1].states: needs at least one term"),
    ('[[category.jalan.near]]\nobjects = ["jalan"]\nstates = ["rusak"]\nwindow = 40', "category.jalan.near[1].window: must be between 0 and 12"),
    ('[[category.jalan.near]]\nobjects = ["jalan"]\nstates = ["rusak"]\nradius = 2', "category.jalan.near[1]: unknown key 'radius'"),
    ('[[category.jalan.near]]\nobjects = "jalan"\nstates = ["rusak"]', "category.jalan.near[1].objects: expected list"),
])
def test_bad_near_rules_are_reported_with_their_place(cfg, block, fragment):
    append(cfg / "taxonomy.toml", block)
    message = load_error(cfg)
    assert "taxonomy.toml" in message and fragment in message


def test_priority_scope_names_known_kinds_only(cfg):
    append(cfg / "lexicon.toml", '[priority_rules]\napply_to = ["pengaduan", "keluhan"]')
    assert "lexicon.toml: priority_rules.apply_to: unknown kind 'keluhan'" in load_error(cfg)


def test_context_only_kecamatan_must_exist(cfg):
    replace(cfg / "gazetteer" / "aliases.toml", 'kecamatan_needs_context = ["Wedi", "Tulung"]',
            'kecamatan_needs_context = ["Wedi", "Atlantis"]')
    assert "aliases.toml: kecamatan_needs_context: 'Atlantis' is not a kecamatan" in load_error(cfg)


def test_toml_syntax_errors_name_the_line(cfg):
    append(cfg / "taxonomy.toml", "[category.jalan\nterms = [")
    message = load_error(cfg)
    assert "taxonomy.toml" in message and "line" in message


def test_second_example_regency_loads():
    config = load_config(REPO / "deploy" / "config" / "sukamaju")
    assert config.regency_id == "sukamaju"
    assert len(config.gazetteer.kecamatan) >= 3


@pytest.mark.parametrize(
    ("value", "fragment"),
    [("localhost:ninety", "port 'ninety'"), ("kafka-1:9092,kafka-2:", "port ''"),
     ("kafka-1:9092,", "an empty server"), ("kafka-1:70000", "from 1 to 65535"), (":9092", "no valid host"),
     ("user@kafka:9092", "no valid host"), ("[::1]9092", "[ipv6]:port")],
)
def test_a_malformed_broker_list_is_one_clear_settings_error(value, fragment):
    with pytest.raises(SettingsError) as excinfo:
        Settings.from_env({"TANGGAP_BROKER": value})
    assert "TANGGAP_BROKER" in str(excinfo.value) and fragment in str(excinfo.value)


@pytest.mark.parametrize("value", ["kafka-1:9092,kafka-2:9092", "kafka://broker:9092", "localhost", "[::1]:9092",
                                   "10.0.0.5:19092"])
def test_well_formed_broker_lists_are_accepted_as_given(value):
    assert Settings.from_env({"TANGGAP_BROKER": value}).broker == value


def test_every_setting_default_is_declared_once_in_the_settings_table():
    """The dataclass carries no defaults of its own: an unset or empty variable takes the
    table's default, which the README's settings table prints."""
    import dataclasses

    from streams.settings import DEFAULTS, Settings

    assert all(f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
               for f in dataclasses.fields(Settings))
    unset, empty = Settings.from_env({}), Settings.from_env({"TANGGAP_PARTITIONS": "", "TANGGAP_STALL_SECONDS": ""})
    assert unset.partitions == empty.partitions == int(DEFAULTS["TANGGAP_PARTITIONS"])
    assert unset.stall_seconds == empty.stall_seconds == float(DEFAULTS["TANGGAP_STALL_SECONDS"])
    assert unset.app_id == DEFAULTS["TANGGAP_APP_ID"] and unset.batch_max == int(DEFAULTS["TANGGAP_BATCH_MAX"])


def test_the_readme_settings_table_lists_every_declared_setting_with_its_default():
    """The README's table is written for readers, but its names and defaults are the
    declaration's: a setting added, removed or re-defaulted in streams/settings.py fails here
    until the README says the same."""
    import re

    from streams.settings import DEFAULTS

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Settings (environment variables)", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `TANGGAP_")]
    listed: dict[str, str] = {}
    for row in rows:
        names, default = row.split(" | ")[0], row.split(" | ")[1]
        for name in re.findall(r"`(TANGGAP_\w+)`", names):
            listed[name] = default
    assert set(listed) == set(DEFAULTS), (sorted(set(DEFAULTS) - set(listed)), sorted(set(listed) - set(DEFAULTS)))
    for name, shown in listed.items():
        if shown.startswith("`") and shown.count("`") == 2:
            assert shown.strip("`") == DEFAULTS[name], (name, shown, DEFAULTS[name])
        elif shown == "(empty)":
            assert DEFAULTS[name] == "", name
