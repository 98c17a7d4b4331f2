"""Generates the real-text dedupe set: copies of real citizen complaints, changed the way people
change a complaint they post again, plus hard non-duplicates.

    .venv/bin/python tests/data/make_real_dedupe_set.py [OUT] [--source PATH] [--seed N]
    .venv/bin/tanggap dedupe-eval OUT

The source is ``../shared/data/realtext/purbalingga_complaints.jsonl`` (messages citizens sent
to a regency's complaint portal). Its terms allow no row of it in this repository, so the set is
never committed: it is generated into a temporary file (OUT, default a new file under the
system's temp directory) at test or bench time. The output is the same for the same source and
seed.

What it holds (each line a raw post with ``expect``):

- every source row of at least MIN_WORDS words, once, as an *original* (rows that are already
  near-copies of each other in the source, a complaint sent twice, are one group);
- for about half of the originals, two or three *copies* posted hours later on another platform
  by another author, each with several of: an opener ("Min,", "Permisi min mau lapor,",
  "@pemkab"), a closing ("mohon segera ditindaklanjuti", "terima kasih", emoji, hashtags,
  mentions), slang and abbreviations (yg, gak, udah, jln, dgn, tlg, mhn, utk, krn, blm, aja,
  bpk, makasih), truncation to 65-85% of the words (a character limit), all capitals or all
  lower case, a swapped pair of letters in a long word, punctuation stripped;
- hard non-duplicates, posted hours after their original: the same text with another desa,
  kelurahan, dusun, street, RT or RW (``place_swap``), and another row's problem moved to this
  row's place (``same_place``). The names put in come from other rows of the source (names the
  bundled gazetteer does not know), never from this file.

``expect``: ``group`` (the duplicate group), ``problem`` (the source row it says), ``kecamatan``
(the place label that `agents.domain.cluster.score_pairs` compares: the place the text names,
or the group when it names none), ``category``, ``kind`` (the source's labels) and ``variant``.
"""

from __future__ import annotations

import argparse
import csv
import random
import re
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT.parent / "shared" / "data" / "realtext" / "purbalingga_complaints.jsonl"
SEED = 19
WIB = timezone(timedelta(hours=7))
MIN_WORDS = 8
"""Shorter rows ("jalan rusak mohon diperbaiki") say too little to tell two citizens apart."""
COPIED_SHARE = 0.5
SOURCE_GROUPING_JACCARD = 0.6
SOURCE_GROUPING_CONTAINMENT = 0.9
"""Source rows whose word sets are this similar (Jaccard), or one of which is mostly contained in
the other, are one complaint sent twice: one group, posted within hours."""

OPENERS = ["Min, ", "Permisi min mau lapor, ", "@pemkab ", "@pemkab @dinaspupr ", "Halo admin, ",
           "Selamat pagi pak, ", "Mohon izin lapor min, ", "Assalamualaikum min, ", "Pak bupati, ", "Lapor! "]
CLOSINGS = [" mohon segera ditindaklanjuti", " terima kasih", " 🙏🙏", " #lapor #purbalingga", " @lapor1708",
            " Makasih min", " mohon segera ditindaklanjuti 🙏", " terima kasih atas perhatiannya", " #viral",
            " tlg dibantu ya min"]
SLANG = [("yang", "yg"), ("tidak", "gak"), ("sudah", "udah"), ("jalan", "jln"), ("dengan", "dgn"),
         ("tolong", "tlg"), ("mohon", "mhn"), ("untuk", "utk"), ("karena", "krn"), ("belum", "blm"),
         ("saja", "aja"), ("bapak", "bpk"), ("terima kasih", "makasih"), ("sekali", "bgt"), ("banyak", "byk")]
PLATFORMS = ["twitter", "instagram", "facebook", "tiktok", "youtube", "whatsapp"]
CHANGES = ["opener", "closing", "slang", "truncate", "case", "swap_letters", "strip_punctuation"]

# A place the text names: a marker and the name after it (or the number of an RT/RW).
_NAMED = re.compile(r"\b(desa|ds\.?|kelurahan|kel\.|dusun|dukuh|grumbul|perumahan|perum)\s+([A-Za-z][A-Za-z'-]{2,})",
                    re.IGNORECASE)
_STREET = re.compile(r"\b(jalan|jl\.?|jln\.?|gang|gg\.?)\s+([A-Z][A-Za-z'-]{2,})")
_NUMBERED = re.compile(r"\b(rt|rw)\s*\.?\s*:?\s*(\d{1,3})\b", re.IGNORECASE)
_WORD = re.compile(r"[a-z0-9]+")
NOT_NAMES = frozenset("""
yang dan di ke dari ini itu kami kita saya tersebut setempat sekitar sebelah dekat yg kab kabupaten kecamatan kec
desa jalan raya utama rusak berlubang menuju arah masuk kampung tempat sini situ lain baru lama sana sudah tidak
sedangkan kalau karena untuk dengan atau juga saja tapi tetapi namun ada belum bisa akan mau sangat banyak
kelurahan dusun dukuh perumahan gang sudah depan belakang samping tengah utara selatan timur barat
""".split())


def source_rows(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def gazetteer_names() -> set[str]:
    with (ROOT / "deploy/config/klaten/gazetteer/wilayah.csv").open() as f:
        return {word for row in csv.DictReader(f) for word in _WORD.findall(row["nama"].lower())}


def words_of(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def source_groups(rows: list[dict]) -> list[int]:
    """Group number of each row: rows that are near-copies of each other share one."""
    parent = list(range(len(rows)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    sets = [words_of(row["text"]) for row in rows]
    for i in range(len(rows)):
        for j in range(i + 1, len(rows)):
            a, b = sets[i], sets[j]
            if not a or not b:
                continue
            shared = len(a & b)
            if (shared / len(a | b) >= SOURCE_GROUPING_JACCARD
                    or (min(len(a), len(b)) >= MIN_WORDS and shared / min(len(a), len(b)) >= SOURCE_GROUPING_CONTAINMENT)):
                parent[find(j)] = find(i)
    return [find(i) for i in range(len(rows))]


def anchors(text: str) -> list[tuple[str, str, int, int]]:
    """(kind, value, start, end) of each place the text names; kind is "name", "street" or "number"."""
    found = []
    for match in _NAMED.finditer(text):
        if match[2].lower() not in NOT_NAMES:
            found.append(("name", match[2], match.start(2), match.end(2)))
    for match in _STREET.finditer(text):
        if match[2].lower() not in NOT_NAMES:
            found.append(("street", match[2], match.start(2), match.end(2)))
    for match in _NUMBERED.finditer(text):
        found.append(("number", match[2], match.start(2), match.end(2)))
    return sorted(found, key=lambda anchor: anchor[2])


def place_label(text: str) -> str | None:
    first = anchors(text)
    return "|".join(sorted({value.lower() for kind, value, *_ in first if kind != "number"})) or None


def replace_span(text: str, start: int, end: int, value: str) -> str:
    return text[:start] + value + text[end:]


def swapped_place(rng: random.Random, text: str, pools: dict[str, list[str]]) -> str | None:
    """The text with one place it names replaced by another (a name the text does not contain,
    or another RT/RW number)."""
    found = anchors(text)
    if not found:
        return None
    kind, value, start, end = rng.choice(found)
    if kind == "number":
        number = int(value)
        other = rng.choice([n for n in range(1, 16) if n != number])
        return replace_span(text, start, end, f"{other:0{len(value)}d}")
    present = words_of(text)
    choices = [name for name in pools[kind] if name.lower() not in present and name.lower() != value.lower()]
    if not choices:
        return None
    other = rng.choice(choices)
    other = other.upper() if value.isupper() else other.capitalize() if value[:1].isupper() else other.lower()
    return replace_span(text, start, end, other)


def moved_problem(rng: random.Random, text: str, place: str) -> str | None:
    """Another row's text with its first named place replaced by `place`."""
    for kind, _value, start, end in anchors(text):
        if kind == "name":
            return replace_span(text, start, end, place)
    return None


def slang(rng: random.Random, text: str) -> str:
    for formal, short in rng.sample(SLANG, 6):
        text = re.sub(rf"\b{formal}\b", short, text, flags=re.IGNORECASE)
    return text


def truncated(rng: random.Random, text: str) -> str:
    """Cut at a character limit that keeps 65-85% of the words (at a word boundary)."""
    words = text.split()
    keep = max(MIN_WORDS - 2, round(len(words) * rng.uniform(0.65, 0.85)))
    limit = len(" ".join(words[:keep]))
    return text[:limit].rstrip() + rng.choice(["...", "…", "", " ..."])


def swapped_letters(rng: random.Random, text: str) -> str:
    long_words = [m for m in re.finditer(r"[A-Za-z]{7,}", text)]
    if not long_words:
        return text
    match = rng.choice(long_words)
    word = match[0]
    i = rng.randrange(1, len(word) - 2)
    word = word[:i] + word[i + 1] + word[i] + word[i + 2:]
    return text[:match.start()] + word + text[match.end():]


def copy_of(rng: random.Random, text: str) -> tuple[str, list[str]]:
    changes = rng.sample(CHANGES, rng.randint(2, 4))
    if "truncate" in changes:
        text = truncated(rng, text)
    if "slang" in changes:
        text = slang(rng, text)
    if "swap_letters" in changes:
        text = swapped_letters(rng, text)
    if "strip_punctuation" in changes:
        text = re.sub(r"[^\w\s@#]", " ", text)
        text = re.sub(r"\s+", " ", text).strip()
    if "case" in changes:
        text = text.upper() if rng.random() < 0.5 else text.lower()
    if "opener" in changes:
        text = rng.choice(OPENERS) + text
    if "closing" in changes:
        text = text + rng.choice(CLOSINGS)
    return text, sorted(changes)


def build(source: Path = SOURCE, seed: int = SEED) -> list[dict]:
    rng = random.Random(seed)
    rows = source_rows(source)
    groups = source_groups(rows)
    known = gazetteer_names()
    pools: dict[str, list[str]] = {"name": [], "street": []}
    for row in rows:
        for kind, value, *_ in anchors(row["text"]):
            # Proper names only (written with a capital), that the gazetteer does not know.
            if (kind in pools and value[:1].isupper() and len(value) >= 4 and value.lower() not in known
                    and value.lower() not in pools[kind]):
                pools[kind].append(value.lower())
    for kind in pools:
        pools[kind].sort()
    start = datetime(2025, 9, 1, 6, 0, tzinfo=WIB)
    days = 21
    posts: list[dict] = []

    def post(post_id: str, text: str, at: datetime, platform: str, group: str, row: dict, place: str | None,
             variant: str) -> None:
        posts.append({
            "platform": platform, "post_id": post_id, "text": text, "created_at": at.isoformat(),
            "author": {"id": f"u-{rng.randrange(10**9)}", "handle": f"warga{rng.randrange(10**6)}"},
            "reply_to": None, "repost_of": None, "lang": "id",
            "expect": {"group": group, "problem": f"p{groups[rows.index(row)]}", "kecamatan": place or f"?{group}",
                       "category": row["expect"].get("category"), "kind": row["expect"].get("kind"),
                       "variant": variant},
        })

    eligible = [i for i, row in enumerate(rows) if len(row["text"].split()) >= MIN_WORDS]
    copied = set(rng.sample(eligible, round(len(eligible) * COPIED_SHARE)))
    opened_at: dict[int, datetime] = {}
    first_of_group: dict[int, datetime] = {}
    for i in eligible:
        row = rows[i]
        group = f"g{groups[i]}"
        if groups[i] in first_of_group:  # sent again: hours after the first
            at = first_of_group[groups[i]] + timedelta(minutes=rng.randint(20, 24 * 60))
        else:
            at = first_of_group[groups[i]] = start + timedelta(minutes=rng.randrange(days * 24 * 60))
        opened_at[i] = at
        post(row["post_id"], row["text"], at, "web", group, row, place_label(row["text"]), "original")
        if i not in copied:
            continue
        for n in range(rng.randint(2, 3)):
            text, changes = copy_of(rng, row["text"])
            later = at + timedelta(minutes=rng.randint(20, 36 * 60))
            post(f"{row['post_id']}-c{n + 1}", text, later, rng.choice(PLATFORMS), group, row,
                 place_label(row["text"]), "copy:" + "+".join(changes))
    # Hard non-duplicates, hours after the original they resemble.
    for i in eligible:
        row = rows[i]
        text = swapped_place(rng, row["text"], pools)
        if text is None or text == row["text"]:
            continue
        later = opened_at[i] + timedelta(minutes=rng.randint(20, 24 * 60))
        post(f"{row['post_id']}-x", text, later, rng.choice(PLATFORMS), f"x{i}", row,
             f"{place_label(row['text']) or f'g{groups[i]}'}~swapped", "place_swap")
    named = [i for i in eligible if any(kind == "name" for kind, *_ in anchors(rows[i]["text"]))]
    for i in named:
        place = next(value for kind, value, *_ in anchors(rows[i]["text"]) if kind == "name")
        others = [j for j in named if groups[j] != groups[i]]
        j = rng.choice(others)
        text = moved_problem(rng, rows[j]["text"], place)
        if text is None:
            continue
        later = opened_at[i] + timedelta(minutes=rng.randint(20, 24 * 60))
        post(f"{rows[j]['post_id']}-at-{rows[i]['post_id']}", text, later, rng.choice(PLATFORMS), f"m{i}",
             rows[j], place_label(rows[i]["text"]), "same_place")
    posts.sort(key=lambda p: (p["created_at"], p["post_id"]))
    return posts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", nargs="?", help="output JSON-lines file (default: a new temporary file)")
    parser.add_argument("--source", default=str(SOURCE), help="the Purbalingga complaints file")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    source = Path(args.source)
    if not source.exists():
        print(f"{source} is absent: the real-text dedupe set is made from it (see its folder's README)",
              file=sys.stderr)
        return 2
    posts = build(source, args.seed)
    if args.out:
        out = Path(args.out)
    else:
        handle, name = tempfile.mkstemp(prefix="real_dedupe_set-", suffix=".jsonl")
        out = Path(name)
        import os

        os.close(handle)
    out.write_bytes(b"".join(orjson.dumps(p) + b"\n" for p in posts))
    variants: dict[str, int] = {}
    for p in posts:
        kind = p["expect"]["variant"].partition(":")[0]
        variants[kind] = variants.get(kind, 0) + 1
    print(f"wrote {out}: {len(posts):,} posts ({', '.join(f'{k} {n:,}' for k, n in sorted(variants.items()))})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
