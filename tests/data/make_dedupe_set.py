"""Writes tests/data/dedupe_set.jsonl: the labelled set of near-duplicate clustering.

    .venv/bin/python tests/data/make_dedupe_set.py      # deterministic: same file every run

Hand-written seed complaints (a problem with a place slot) are posted at many kecamatan; each
(seed, place) is one *duplicate group*: the original plus 1-3 copies changed the way citizens
change them (greetings, mentions, hashtags, emoji, slang and spelling, a truncated copy, another
ending). Hard non-duplicates come from the construction itself, all inside one 72-hour window:

- same problem, different place: the same seed at two kecamatan (``same_category_other_place``);
- same place, different problem: seeds of ONE category written with overlapping words ("lampu
  PJU ... mati" / "tiang lampu PJU ... roboh") at the same kecamatan (``same_place_other_problem``).

Each line is a raw post with ``expect.group``; `tanggap dedupe-eval` scores pairs against it.
"""

from __future__ import annotations

import csv
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).with_name("dedupe_set.jsonl")
WIB = timezone(timedelta(hours=7))

# (seed id, category, text): same-category seeds share words on purpose (the hard negatives).
SEEDS = [
    ("jalan_lubang", "jalan", "Jalan utama di {place} berlubang besar dan dalam, sudah banyak motor yang jatuh. Mohon segera ditambal sebelum ada korban."),
    ("jalan_retak", "jalan", "Jembatan kecil di {place} retak dan pagarnya patah, truk masih lewat tiap hari. Tolong dicek kekuatannya."),
    ("jalan_aspal", "jalan", "Aspal jalan kabupaten di {place} mengelupas sepanjang satu kilometer, kalau hujan jadi kubangan lumpur."),
    ("jalan_longsor", "jalan", "Bahu jalan di {place} amblas tergerus air, separuh badan jalan sudah menggantung. Bahaya buat pengendara malam hari."),
    ("pju_mati", "penerangan_jalan", "Lampu PJU di sepanjang jalan raya {place} mati semua sudah seminggu, malam gelap gulita rawan begal."),
    ("pju_roboh", "penerangan_jalan", "Tiang lampu PJU di perempatan {place} roboh kena angin, kabelnya menjuntai ke jalan. Mohon segera diamankan."),
    ("pju_kedip", "penerangan_jalan", "Lampu jalan di depan SD {place} nyala mati kedip kedip tiap malam, tolong diganti lampunya."),
    ("air_mati", "air_bersih", "Air PDAM di {place} mati total sejak kemarin sore, warga tidak bisa masak dan mandi. Tolong ada kejelasan."),
    ("air_keruh", "air_bersih", "Air PDAM yang keluar di {place} keruh kecoklatan dan bau karat sudah tiga hari, tidak layak dipakai."),
    ("air_pipa", "air_bersih", "Pipa PDAM bocor di pinggir jalan {place}, air muncrat terbuang dari pagi sampai sekarang."),
    ("sampah_numpuk", "lingkungan", "Sampah di TPS dekat pasar {place} menumpuk tidak diangkut lima hari, baunya menyengat sampai rumah warga."),
    ("sampah_bakar", "lingkungan", "Ada yang bakar sampah plastik tiap sore di lahan kosong {place}, asapnya masuk rumah dan bikin sesak."),
    ("sampah_sungai", "lingkungan", "Sungai di {place} penuh sampah kiriman, airnya hitam dan bau busuk, ikan banyak yang mati."),
    ("banjir_got", "drainase", "Saluran got di {place} mampet total, tiap hujan air meluap ke jalan dan masuk rumah warga."),
    ("banjir_gorong", "drainase", "Gorong-gorong di {place} ambrol dan tertutup tanah, air hujan tidak bisa mengalir dan menggenang."),
    ("puskesmas_antre", "kesehatan", "Antrean di puskesmas {place} dari subuh, dokternya baru datang jam sepuluh. Pasien lansia kasihan menunggu lama."),
    ("puskesmas_obat", "kesehatan", "Obat di puskesmas {place} sering kosong, pasien disuruh beli sendiri di apotek luar."),
    ("dbd", "kesehatan", "Banyak warga {place} kena demam berdarah bulan ini, mohon segera fogging dan pemeriksaan jentik."),
    ("sekolah_atap", "pendidikan", "Atap ruang kelas SD negeri di {place} bocor parah dan plafonnya mau runtuh, murid belajar di teras."),
    ("ktp", "adminduk", "Sudah tiga bulan rekam KTP elektronik di kantor kecamatan {place} belum jadi juga, katanya blangko habis."),
    ("lalin_macet", "lalu_lintas", "Traffic light di simpang empat {place} mati, lalu lintas semrawut dan macet panjang tiap pagi."),
    ("lalin_parkir", "lalu_lintas", "Parkir liar di depan pasar {place} makan separuh jalan, bikin macet dan juru parkirnya galak."),
    ("kebakaran", "bencana", "Kebakaran gudang di {place} barusan, api besar dan asap hitam tinggi, damkar belum datang!"),
    ("pohon_tumbang", "bencana", "Pohon besar tumbang menutup jalan di {place} setelah hujan angin, kendaraan tidak bisa lewat."),
    ("bansos", "sosial", "Bantuan sosial beras di {place} tidak tepat sasaran, yang mampu dapat tapi janda miskin tidak terdaftar."),
    ("anjing_liar", "ketertiban", "Banyak anjing liar berkeliaran di sekitar pasar {place}, sudah ada anak yang digigit."),
]

GREETINGS = ["Min, ", "Mohon maaf pak bupati, ", "Tolong min ", "Assalamualaikum, ", "Halo admin, ", "Pak bupati mohon "]
MENTIONS = ["@pemkabklaten ", "@dpuprklaten ", "@pemkab_klaten @lapor1708 ", "@infoklaten "]
HASHTAGS = [" #klaten #infoklaten", " #KlatenBersinar", " #lapor", " #viral #klaten"]
EMOJI = [" 🙏🙏", " 😡😡", " 😭", " 🙏"]
ENDINGS = ["Warga sudah resah.", "Sudah lapor RT tapi belum ada tindakan.", "Tolong jangan cuma janji.",
           "Mohon perhatiannya.", "Kapan diperbaiki?"]
SLANG = [("jalan", "jln"), ("tidak", "gak"), ("sudah", "udah"), ("banyak", "byk"), ("yang", "yg"),
         ("sampai", "sampe"), ("segera", "segera2"), ("besar", "gede"), ("mohon", "mhn"), ("dan", "&"),
         ("tolong", "tlg"), ("parah", "parahhh"), ("mati", "matiii")]
PLATFORMS = ["twitter", "instagram", "facebook", "tiktok", "youtube", "whatsapp"]


def kecamatan_names() -> list[str]:
    with (ROOT / "deploy/config/klaten/gazetteer/wilayah.csv").open() as f:
        return [row["nama"] for row in csv.DictReader(f) if row["level"] == "kecamatan"]


def place_phrase(rng: random.Random, kecamatan: str) -> str:
    return rng.choice(["kec. {k}", "kecamatan {k}", "{k}", "daerah {k}"]).format(k=kecamatan)


def variant(rng: random.Random, text: str) -> str:
    changes = rng.sample(["greeting", "mentions", "hashtags", "emoji", "slang", "truncate", "ending", "case"],
                         rng.randint(1, 3))
    if "truncate" in changes:
        words = text.split()
        text = " ".join(words[:max(6, int(len(words) * rng.uniform(0.6, 0.8)))]) + "..."
    if "ending" in changes and "truncate" not in changes:
        cut = text.rfind(". ")
        # "kec. Wedi" is not a sentence end: the place stays, only the ending changes.
        if cut > 0 and not text[:cut].lower().endswith("kec"):
            text = text[:cut + 2] + rng.choice(ENDINGS)
        else:
            text = text + " " + rng.choice(ENDINGS)
    if "slang" in changes:
        for formal, slang in rng.sample(SLANG, 4):
            text = text.replace(formal, slang)
    if "case" in changes:
        text = text.lower() if rng.random() < 0.5 else text.upper()
    if "greeting" in changes:
        text = rng.choice(GREETINGS) + text[0].lower() + text[1:]
    if "mentions" in changes:
        text = rng.choice(MENTIONS) + text if rng.random() < 0.5 else text + " " + rng.choice(MENTIONS).strip()
    if "hashtags" in changes:
        text += rng.choice(HASHTAGS)
    if "emoji" in changes:
        text += rng.choice(EMOJI)
    return text


def build(seed: int = 4) -> list[dict]:
    rng = random.Random(seed)
    places = kecamatan_names()
    start = datetime(2026, 11, 2, 6, 0, tzinfo=WIB)
    posts: list[dict] = []
    combos = [(s, k) for s in SEEDS for k in places]
    rng.shuffle(combos)
    # Every seed at ~13 places and every place with ~13 seeds: plenty of both kinds of hard pair.
    chosen = combos[:340]
    for number, ((seed_id, category, template), kecamatan) in enumerate(chosen):
        group = f"{seed_id}@{kecamatan}"
        original = template.format(place=place_phrase(rng, kecamatan))
        opened = start + timedelta(minutes=rng.randint(0, 36 * 60))
        texts = [original] + [variant(rng, original) for _ in range(rng.randint(1, 3))]
        for copy, text in enumerate(texts):
            at = opened + timedelta(minutes=copy * rng.randint(5, 600))
            posts.append({
                "platform": rng.choice(PLATFORMS), "post_id": f"d{number:04d}c{copy}", "text": text,
                "created_at": at.isoformat(), "author": {"id": f"u-{rng.randrange(10**9)}", "handle": f"warga{rng.randrange(10**5)}"},
                "reply_to": None, "repost_of": None, "lang": "id", "expect": {"group": group, "problem": seed_id, "category": category, "kecamatan": kecamatan},
            })
    posts.sort(key=lambda post: post["created_at"])
    return posts


if __name__ == "__main__":
    OUT.write_bytes(b"".join(orjson.dumps(post) + b"\n" for post in build()))
    print(f"wrote {OUT}")
