"""Unit tests for the learned half of triage: features, the artifact, training and how the
model's scores combine with the rules (agents/domain/model.py, streams/train.py, classify)."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest

from agents.domain.classify import KINDS, ReviewPolicy, classify
from agents.domain.config import ConfigError, load_config
from agents.domain.model import CHAR_NGRAMS, ModelError, Scores, TriageModel, features, title_case_share, word_features
from agents.domain.text import NormalizedText
from streams.train import Example, TrainingSet, folds, train

REPO = Path(__file__).resolve().parents[2]
BUNDLED = REPO / "deploy" / "config" / "klaten"

COMPLAINTS = [
    ("jalan di depan pasar rusak parah banyak lubang mohon diperbaiki", "jalan"),
    ("jalan desa kami berlubang sudah setahun belum diperbaiki", "jalan"),
    ("aspal jalan mengelupas dan licin tolong segera diaspal ulang", "jalan"),
    ("lampu jalan di gang kami mati sudah seminggu gelap sekali", "penerangan_jalan"),
    ("pju depan masjid padam tolong dicek petugas", "penerangan_jalan"),
    ("lampu penerangan jalan mati semua rawan begal", "penerangan_jalan"),
]
OTHERS = [
    ("selamat pagi semua semoga harimu menyenangkan", "lainnya"),
    ("nonton bola semalam seru banget sampai begadang", "lainnya"),
    ("hp ku rusak lagi padahal baru beli bulan lalu", "lainnya"),
    ("partai itu cuma pencitraan jelang pemilu", "politik"),
    ("capres nomor satu janjinya omong kosong semua", "politik"),
    ("slot gacor maxwin hari ini daftar sekarang", "spam"),
    ("terima kasih pak bupati jalannya sudah mulus", "apresiasi"),
    ("kapan pendaftaran sekolah dibuka dan apa syaratnya", "permintaan_informasi"),
    ("usul dibangun taman bermain anak di alun alun", "aspirasi"),
]


@pytest.fixture(scope="module")
def rules_config():
    return load_config(BUNDLED, with_model=False)


def training_set() -> TrainingSet:
    examples = [Example(text, "pengaduan", category) for text, category in COMPLAINTS]
    examples += [Example(text, kind, "pendidikan" if kind == "permintaan_informasi" else
                         "lingkungan" if kind == "aspirasi" else None) for text, kind in OTHERS]
    training = TrainingSet()
    training.add(examples * 3, {"path": "written-in-this-test"})
    return training


@pytest.fixture(scope="module")
def small_model(rules_config):
    return train(rules_config, training_set(), c=10.0, command="test")


def normalized(config, text: str) -> NormalizedText:
    return config.normalizer.normalize(text)


def test_word_features_are_the_word_and_its_padded_character_ngrams():
    found = word_features("rusak")
    assert found[0] == "w:rusak"
    assert "c:<ru" in found and "c:sak>" in found and "c:<rusa" in found
    assert len(found) == 1 + sum(len("rusak") + 3 - n for n in CHAR_NGRAMS)
    assert word_features("a") == ["w:a", "c:<a>"]


def test_features_count_repeats_and_read_the_form_of_the_post(rules_config):
    text = normalized(rules_config, "Jalan rusak? lihat https://example.invalid/x @dpuprklaten")
    found = features(text, "Jalan rusak? lihat", addressed_official=True)
    assert {"m:link", "m:question", "m:mentions", "m:addressed_official"} <= set(found)
    assert "b:jalan_rusak" in found
    assert title_case_share("Jalan Rusak Di Bekasi Dikeluhkan Warga Sekitar") >= 0.6
    assert title_case_share("jalan rusak di depan rumah saya mohon dibantu") == 0.0


def test_a_trained_model_reads_kind_and_category(rules_config, small_model):
    scores = small_model.score(normalized(rules_config, "lampu jalan mati gelap sekali"), "lampu jalan mati")
    assert scores.best_kind()[0] == "pengaduan"
    assert max(scores.categories, key=scores.categories.get) == "penerangan_jalan"
    assert sum(scores.kinds.values()) == pytest.approx(1.0, abs=1e-5)
    assert set(scores.kinds) == set(KINDS)
    politics = small_model.score(normalized(rules_config, "partai dan capres pencitraan"), "partai dan capres")
    assert politics.best_kind()[0] == "politik"


def test_evidence_names_readable_features_only(rules_config, small_model):
    scores = small_model.score(normalized(rules_config, "jalan rusak parah"), "jalan rusak parah")
    evidence = scores.evidence("pengaduan")
    assert evidence and all(not name.startswith("c:") for name in evidence)


def test_training_is_deterministic(rules_config, small_model, tmp_path):
    again = train(rules_config, training_set(), c=10.0, command="test")
    first, second = tmp_path / "a.npz", tmp_path / "b.npz"
    small_model.save(first)
    again.save(second)
    assert first.read_bytes() == second.read_bytes()


def test_the_artifact_round_trips(rules_config, small_model, tmp_path):
    path = tmp_path / "model.npz"
    small_model.save(path)
    loaded = TriageModel.load(path)
    text = normalized(rules_config, "jalan berlubang belum diperbaiki")
    before, after = small_model.score(text, "x"), loaded.score(text, "x")
    assert after.kinds == pytest.approx(before.kinds, abs=2e-3)
    assert loaded.manifest["sources"][0]["path"] == "written-in-this-test"


def test_a_broken_artifact_is_a_clear_error(tmp_path):
    with pytest.raises(ModelError, match="model file missing"):
        TriageModel.load(tmp_path / "none.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a model")
    with pytest.raises(ModelError, match="not a Tanggap model"):
        TriageModel.load(tmp_path / "junk.npz")
    with pytest.raises(ModelError, match="do not fit"):
        TriageModel(["w:a"], np.zeros((2, 3), np.float32), np.zeros(3, np.float32), ["a"], ["b", "c"], {})


def test_folds_cover_every_row_once_and_are_stable():
    parts = folds(23, 5)
    assert sorted(i for part in parts for i in part) == list(range(23))
    assert parts == folds(23, 5)


def _copy_config(tmp_path: Path) -> Path:
    target = tmp_path / "klaten"
    shutil.copytree(BUNDLED, target)
    return target


def test_model_settings_are_validated(tmp_path):
    root = _copy_config(tmp_path)
    settings = root / "model.toml"
    text = settings.read_text()
    settings.write_text(text.replace("review_below = 0.55", "review_below = 1.5"))
    with pytest.raises(ConfigError, match="review_below: must be between 0 and 1"):
        load_config(root)
    settings.write_text(text.replace("review_below = 0.55", "review_bellow = 0.55"))
    with pytest.raises(ConfigError, match="unknown key"):
        load_config(root)
    settings.write_text(text.replace('file = "model/triage_model.npz"', 'file = "model/absent.npz"'))
    with pytest.raises(ConfigError, match="model file missing"):
        load_config(root)


def test_a_model_of_another_taxonomy_is_refused(tmp_path, rules_config, small_model):
    root = _copy_config(tmp_path)
    other = TriageModel(small_model._names, small_model._weights[:, :-1], small_model._bias[:-1],
                        small_model.kinds, small_model.categories[:-1], {})
    other.save(root / "model" / "triage_model.npz")
    with pytest.raises(ConfigError, match="another taxonomy"):
        load_config(root)


def test_a_configuration_without_model_settings_decides_by_rules(tmp_path):
    root = _copy_config(tmp_path)
    (root / "model.toml").unlink()
    assert load_config(root).model is None


# -- combining the model with the rules --------------------------------------------------------

def scores(kinds: dict[str, float], categories: dict[str, float] | None = None) -> Scores:
    full = {kind: 0.0 for kind in KINDS} | kinds
    return Scores(full, categories or {"jalan": 0.9, "lainnya": 0.1})


def decide(config, text: str, kinds: dict[str, float], categories=None, policy=ReviewPolicy()):
    return classify(normalized(config, text), config.rules, scores(kinds, categories), policy)


def test_the_model_decides_the_kind_the_rules_would_misread(rules_config):
    # "terima kasih" is a praise term; the whole text is a complaint.
    result = decide(rules_config, "jalan rusak mohon diperbaiki terima kasih", {"pengaduan": 0.9, "apresiasi": 0.1})
    assert (result.kind, result.category, result.needs_review) == ("pengaduan", "jalan", False)
    assert result.confidence == 0.9
    assert any(r.startswith("kind:pengaduan[model 0.90") for r in result.reasons)


def test_an_unsure_actionable_decision_needs_review(rules_config):
    result = decide(rules_config, "jalan begini terus", {"pengaduan": 0.5, "lainnya": 0.45, "politik": 0.05})
    assert (result.kind, result.needs_review) == ("pengaduan", True)
    assert any(r.startswith("needs_review[kind 0.50") for r in result.reasons)


def test_chatter_that_scores_high_as_actionable_needs_review_rather_than_being_dropped(rules_config):
    result = decide(rules_config, "wah begini lagi", {"lainnya": 0.5, "pengaduan": 0.3, "permintaan_informasi": 0.2})
    assert (result.kind, result.needs_review) == ("pengaduan", True)
    sure = decide(rules_config, "wah begini lagi", {"lainnya": 0.9, "pengaduan": 0.1})
    assert (sure.kind, sure.needs_review) == ("lainnya", False)


def test_hard_policy_stays_with_the_rules(rules_config):
    assert decide(rules_config, "ayo coblos nomor urut 2", {"pengaduan": 0.99}).kind == "politik"
    assert decide(rules_config, "partai itu pencitraan saja", {"lainnya": 0.9}).kind == "politik"
    assert decide(rules_config, "slot gacor maxwin", {"lainnya": 0.9}).kind == "spam"


def test_an_unsure_political_reading_of_the_model_alone_goes_to_people(rules_config):
    # No term of the political lexicon: the model's reading decides, and an unsure one is read by
    # the desk rather than left unanswered.
    text = "gaji tenaga harian lepas tidak pernah naik sejak covid, apakah slogan pemerintah hanya untuk pabrik"
    unsure = decide(rules_config, text, {"politik": 0.4, "pengaduan": 0.35, "lainnya": 0.25},
                    {"ketenagakerjaan": 0.8, "lainnya": 0.2})
    assert (unsure.kind, unsure.needs_review) == ("pengaduan", True)
    assert any(r.startswith("needs_review[politik 0.40 < 0.55, model alone]") for r in unsure.reasons)
    sure = decide(rules_config, text, {"politik": 0.8, "pengaduan": 0.1, "lainnya": 0.1})
    assert (sure.kind, sure.needs_review) == ("politik", False)
    # The lexicon's political terms still decide however unsure the model is.
    assert decide(rules_config, "partai itu pencitraan saja", {"politik": 0.4, "pengaduan": 0.35}).kind == "politik"


def test_a_service_complaint_naming_politics_or_spam_words_stays_a_complaint(rules_config):
    # The political term is there, but the model reads a service complaint and the rules a category.
    result = decide(rules_config, "anggota dewan lewat tiap hari tapi jalan rusak tidak diperbaiki",
                    {"pengaduan": 0.85, "politik": 0.15})
    assert result.kind == "pengaduan"
    assert any(r.startswith("politik_mentioned_but_purpose_is_service") for r in result.reasons)
    gambling = decide(rules_config, "banyak pemuda main judi online di pos ronda mohon ditertibkan",
                      {"pengaduan": 0.9}, {"ketertiban": 0.9, "lainnya": 0.1})
    assert (gambling.kind, gambling.category) == ("pengaduan", "ketertiban")


def test_a_post_that_says_it_reports_a_concrete_problem_is_a_complaint(rules_config):
    # The model reads a question (it asks when), the writer reports a road that is broken.
    text = "izin melaporkan jalan depan balai desa rusak parah, kapan diperbaiki?"
    asked = decide(rules_config, text, {"permintaan_informasi": 0.7, "pengaduan": 0.3})
    # A complaint's priority terms count ("rusak parah"); a question would have been rendah.
    assert (asked.kind, asked.priority, asked.needs_review) == ("pengaduan", "tinggi", False)
    assert "kind:pengaduan[writer reports a problem: melapor; instead of permintaan_informasi]" in asked.reasons
    assert asked.confidence == 0.7  # the model's, in the kind it read
    suggested = decide(rules_config, "saya ingin mengadukan lampu jalan mati, semoga segera diganti",
                       {"aspirasi": 0.6, "pengaduan": 0.4}, {"penerangan_jalan": 0.9, "lainnya": 0.1})
    assert suggested.kind == "pengaduan"


def test_asking_where_to_report_or_reporting_no_concrete_problem_stays_a_question(rules_config):
    where = decide(rules_config, "jalan rusak itu wewenang kabupaten atau provinsi? mau lapor ke mana ya",
                   {"permintaan_informasi": 0.8, "pengaduan": 0.2})
    assert where.kind == "permintaan_informasi"
    # A report word, but only a bare topic word for the rules: no concrete problem.
    vague = decide(rules_config, "mau lapor soal sekolah, jam buka kantor dinas kapan?",
                   {"permintaan_informasi": 0.8, "pengaduan": 0.2}, {"pendidikan": 0.9, "lainnya": 0.1})
    assert vague.kind == "permintaan_informasi"


def test_asking_for_action_on_a_service_while_naming_a_politician_goes_to_people(rules_config):
    political = {"politik": 0.7, "pengaduan": 0.2, "lainnya": 0.1}
    text = "THR belum juga dicairkan, mohon segera dicairkan, padahal presiden sudah menyebut kabupaten kita"
    asked = decide(rules_config, text, political, {"ketenagakerjaan": 0.8, "lainnya": 0.2})
    assert (asked.kind, asked.category, asked.needs_review) == ("pengaduan", "ketenagakerjaan", True)
    assert "needs_review[asks for action on ketenagakerjaan, names politics]" in asked.reasons
    # No service the rules find, or campaigning: the political lexicon decides.
    assert decide(rules_config, "tolong presiden jangan dengarkan oposisi", political).kind == "politik"
    assert decide(rules_config, "mohon THR segera cair, ayo coblos nomor urut 2", political).kind == "politik"


def test_the_rules_category_weighs_in_when_the_model_hesitates(rules_config):
    result = decide(rules_config, "lampu jalan mati", {"pengaduan": 0.9},
                    {"jalan": 0.45, "penerangan_jalan": 0.4, "lainnya": 0.15})
    assert result.category == "penerangan_jalan"


def test_needs_review_opens_for_the_triage_desk(rules_config):
    from agents.domain.triage import Triage
    from schemas.events import RawPost

    class Unsure:
        manifest: dict = {}

        def score(self, *_args, **_kwargs):
            return scores({"pengaduan": 0.45, "lainnya": 0.4, "apresiasi": 0.15})

    config = dataclasses.replace(rules_config, model=Unsure())
    post = RawPost.parse({"platform": "twitter", "post_id": "1", "text": "jalan di Wedi begitu lagi",
                          "created_at": "2026-11-02T08:00:00+07:00", "author": {"id": "a"}})
    result = Triage(config).process(post, {}, {})
    assert result.record["outcome"] == "opened"
    assert result.record["needs_review"] is True
    assert result.record["opd"] == config.directory.triage_desk
    assert result.complaint_events[0]["needs_review"] is True
    assert "opd:diskominfo[needs_review]" in result.record["reasons"]


def test_a_complaint_about_a_place_outside_the_regency_needs_review(config):
    from agents.domain.triage import Triage
    from schemas.events import RawPost

    def opened(text: str) -> dict:
        post = RawPost.parse({"platform": "twitter", "post_id": str(abs(hash(text))), "text": text,
                              "created_at": "2026-11-02T08:00:00+07:00", "author": {"id": "a"}})
        return Triage(config).process(post, {}, {}).record

    far = opened("Jalan di perumahan kami di Bekasi Timur bolong-bolong, tolong diperbaiki")
    assert (far["outcome"], far["needs_review"], far["opd"]) == ("opened", True, config.directory.triage_desk)
    assert "place_outside_regency[Bekasi]" in far["reasons"]
    near = opened("Jalan di desa Jimbung kec. Kalikotes bolong-bolong, tolong diperbaiki, kayak jalan di Bekasi")
    assert not any(r.startswith("place_outside_regency") for r in near["reasons"])


def test_news_about_a_road_in_another_region_is_not_pulled_back_for_review(rules_config):
    """The rules read a road complaint, the model reads news: a problem phrase brings the post to
    the desk only when it is not about a place outside the regency."""
    from agents.domain.triage import Triage
    from schemas.events import RawPost

    class ReadsNews:
        manifest: dict = {}

        def score(self, *_args, **_kwargs):
            return scores({"lainnya": 0.8, "pengaduan": 0.12, "apresiasi": 0.08})

        def score_passages(self, *_args, **_kwargs):
            return []

    config = dataclasses.replace(rules_config, model=ReadsNews())

    def triaged(text: str) -> dict:
        post = RawPost.parse({"platform": "twitter", "post_id": str(abs(hash(text))), "text": text,
                              "created_at": "2026-11-02T08:00:00+07:00", "author": {"id": "a"}})
        return Triage(config).process(post, {}, {}).record

    elsewhere = triaged("Perbaikan jalan rusak di Jember butuh Rp 30 M, pekerja mulai menambal ...")
    assert (elsewhere["outcome"], elsewhere["kind"]) == ("ignored", "lainnya")
    assert any(r.startswith("not_reviewed[rules read pengaduan jalan") and "about Jember, outside the regency" in r
               for r in elsewhere["reasons"])
    here = triaged("Perbaikan jalan rusak di Cawas butuh Rp 3 M, pekerja mulai menambal ...")
    assert (here["outcome"], here["needs_review"]) == ("opened", True)
    assert any(r.startswith("needs_review[rules read pengaduan jalan") for r in here["reasons"])
    both = triaged("Jalan rusak di Cawas parah, lebih parah dari jalan di Jember")
    assert (both["outcome"], both["needs_review"]) == ("opened", True)
    # Asking for action is a citizen's voice, not news: the desk reads it.
    asks = triaged("Jalan rusak di perbatasan arah Jember, mohon segera ditinjau")
    assert (asks["outcome"], asks["needs_review"]) == ("opened", True)


def test_one_word_that_is_both_topic_and_problem_does_not_bring_chatter_to_the_desk(rules_config):
    chatter = {"lainnya": 0.8, "pengaduan": 0.12, "apresiasi": 0.08}
    # "macet" is the category's word and the complaint's: a zip is "macet" too.
    assert decide(rules_config, "resleting tasnya macet, tanda minta beli baru", chatter).kind == "lainnya"
    # A complaint word beyond the topic, or a concrete problem, still brings it to the desk.
    traffic = decide(rules_config, "tiap pagi macet parah di simpang tiga", chatter)
    assert (traffic.kind, traffic.needs_review) == ("pengaduan", True)
    road = decide(rules_config, "jalannya rusak sejak lebaran", chatter)
    assert (road.kind, road.needs_review) == ("pengaduan", True)


def test_a_several_word_complaint_phrase_about_a_concrete_problem_outweighs_a_sure_model(rules_config):
    sure_chatter = {"lainnya": 0.95, "pengaduan": 0.03, "apresiasi": 0.02}
    # "tidak kunjung diperbaiki" is a complaint's own wording, "jalan rusak" a concrete problem.
    text = "jalan rusak di sepanjang dukuh kami tidak kunjung diperbaiki, sudah bertahun-tahun"
    result = decide(rules_config, text, sure_chatter)
    assert (result.kind, result.needs_review) == ("pengaduan", True)
    assert any(r.startswith("needs_review[rules read pengaduan jalan (tidak kunjung perbaiki), model read lainnya 0.95")
               for r in result.reasons)
    # One word ("macet") is not enough against a sure model.
    assert decide(rules_config, "kangen macet di jalan sambil dengerin radio", sure_chatter).kind == "lainnya"


def test_the_word_cache_starts_over_when_full_without_changing_any_score(rules_config, small_model, monkeypatch):
    import agents.domain.model as model_module

    text = normalized(rules_config, "lampu jalan mati gelap sekali di gang kami")
    expected = small_model.score(text, "x").kinds
    monkeypatch.setattr(model_module, "_WORD_CACHE_LIMIT", 20)
    for i in range(30):
        small_model.score(normalized(rules_config, f"kata{i} lain{i} baru{i}"), "x")
        assert len(small_model._word_index) <= 20
    assert small_model.score(text, "x").kinds == pytest.approx(expected, abs=1e-6)


def test_scores_do_not_depend_on_what_the_model_read_before(rules_config):
    """A repeated new word must not take two cache rows (the next word would overwrite one)."""
    texts = ["jalan jalan rusak rusak parah sekali", "lampu mati mati gelap", "partai partai pemilu capres",
             "selamat pagi pagi semua", "jalan rusak parah sekali"]
    fresh = [train(rules_config, training_set(), c=10.0) for _ in range(2)]
    forward = [fresh[0].score(normalized(rules_config, t), t).kinds for t in texts]
    backward = [fresh[1].score(normalized(rules_config, t), t).kinds for t in reversed(texts)][::-1]
    for a, b in zip(forward, backward):
        assert a == pytest.approx(b, abs=1e-6)


def test_a_score_is_the_plain_sum_over_the_posts_features(rules_config, small_model):
    """The cached, gathered scoring path gives what the model's definition says: each feature
    occurrence's weight row times its idf, summed, scaled to unit length, plus the bias."""
    vocabulary = {name: row for row, name in enumerate(small_model._names)}
    idf = small_model._idf.astype(np.float64)
    weights = small_model._weights.astype(np.float64)
    for raw in ("Lampu jalan mati, gelap sekali di gang kami. Kapan diperbaiki? @dpuprklaten",
                "Jalan Rusak Parah Dikeluhkan Warga Desa Sebelah https://example.invalid/x",
                "kata baru sekali yang belum pernah dibaca model", ""):
        text = normalized(rules_config, raw)
        names = features(text, raw, addressed_official=True)
        rows = [vocabulary[name] for name in names if name in vocabulary]
        unknown = len(names) - len(rows)
        squares = float(sum(idf[row] ** 2 for row in rows)) + unknown * small_model._unknown_idf ** 2
        logits = small_model._bias.astype(np.float64).copy()
        if rows and squares:
            logits += (weights[rows] * idf[rows, None]).sum(axis=0) / np.sqrt(squares)
        split = len(small_model.kinds)
        kinds = np.exp(logits[:split] - logits[:split].max())
        expected = dict(zip(small_model.kinds, (kinds / kinds.sum()).tolist()))
        assert small_model.score(text, raw, addressed_official=True).kinds == pytest.approx(expected, abs=1e-5)


def test_an_actionable_post_of_no_readable_category_opens_for_the_triage_desk(rules_config):
    """Sure it is a complaint, unsure which service: the desk routes it, unless the rules name
    the category."""
    kinds = {kind: 0.0 for kind in KINDS} | {"pengaduan": 0.9, "lainnya": 0.1}
    vague = Scores(kinds, {"ketertiban": 0.35, "jalan": 0.33, "lainnya": 0.32})
    decision = classify(normalized(rules_config, "hadir dari pedan min"), rules_config.rules, vague)
    assert decision.needs_review and any(r.startswith("needs_review[category 0.35") for r in decision.reasons)
    named = classify(normalized(rules_config, "jalan berlubang di pedan"), rules_config.rules, vague)
    assert not named.needs_review and named.category == "jalan"
    sure = Scores(kinds, {"ketertiban": 0.8, "jalan": 0.1, "lainnya": 0.1})
    assert not classify(normalized(rules_config, "hadir dari pedan min"), rules_config.rules, sure).needs_review
