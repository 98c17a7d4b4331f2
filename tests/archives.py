"""Archive files in the formats other tools write, generated from the benchmark's posts.

    python -m tests.archives DIR [--rows N]

writes `tweet_harvest.csv` (tweet-harvest's CSV), `x_v1_1.jsonl` (X API v1.1 tweet objects, one
per line) and `desk_export.csv` (a desk's spreadsheet with `dd/mm/yyyy HH:MM` times in WIB and
other zones) with bad rows mixed in, and returns what a reader must find: the good rows' post
keys and every bad row's reason. Deterministic: the same arguments write the same bytes.
"""

from __future__ import annotations

import argparse
import csv
import random
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson

from bench.generate import Mix, generate_posts

TWEET_HARVEST_COLUMNS = ("conversation_id_str", "created_at", "favorite_count", "full_text", "id_str", "image_url",
                         "in_reply_to_screen_name", "lang", "location", "quote_count", "reply_count",
                         "retweet_count", "tweet_url", "user_id_str", "username")
DESK_COLUMNS = ("No", "Tanggal", "Kanal", "ID Unggahan", "Akun", "Isi Aduan", "Membalas")
DESK_MAP = "post_id=ID Unggahan,text=Isi Aduan,created_at=Tanggal,platform=Kanal,author.id=Akun,author.handle=Akun,reply_to=Membalas"
DAYS = "Mon Tue Wed Thu Fri Sat Sun".split()
MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
WIB = timezone(timedelta(hours=7))
BAD_EVERY = 10
"""One bad row after every this many good ones."""


@dataclass
class Expected:
    path: Path
    good: list[str] = field(default_factory=list)
    """Post keys of the good rows, in order (a redelivered post appears twice)."""
    bad: dict[int, str] = field(default_factory=dict)
    """Row number -> bad-row reason."""


def legacy_time(rfc3339: str) -> str:
    """X's legacy format, in UTC: `Sun Aug 31 23:42:30 +0000 2025`."""
    at = datetime.fromisoformat(rfc3339).astimezone(timezone.utc)
    return f"{DAYS[at.weekday()]} {MONTHS[at.month - 1]} {at.day:02d} {at:%H:%M:%S} +0000 {at.year}"


def _posts(rows: int, seed: int, platforms: set[str] | None) -> list[dict[str, Any]]:
    posts = [p for p in generate_posts(rows * 6, seed=seed, mix=Mix(copies=0.3)) if platforms is None or p["platform"] in platforms]
    posts = posts[:rows]
    numeric = {}
    for post in posts:
        numeric.setdefault(post["post_id"], str(1962000000000000000 + len(numeric) * 7919))
    out = []
    for post in posts:
        post = dict(post)
        post["post_id"] = numeric[post["post_id"]]
        for ref in ("reply_to", "repost_of"):
            if post.get(ref):
                post[ref] = numeric.get(post[ref], post[ref])
        out.append(post)
    return out


def _root(post: dict[str, Any], by_id: dict[str, dict[str, Any]]) -> str:
    seen = set()
    while post.get("reply_to") and post["reply_to"] in by_id and post["post_id"] not in seen:
        seen.add(post["post_id"])
        post = by_id[post["reply_to"]]
    return post["post_id"]


def write_tweet_harvest(path: Path, rows: int = 230, seed: int = 22) -> Expected:
    posts = _posts(rows, seed, {"twitter"})
    by_id = {p["post_id"]: p for p in posts}
    expected = Expected(path)
    rng = random.Random(seed)
    bad_rows = [
        ("bad_timestamp", lambda r: r.update(created_at="kemarin sore")),
        ("missing_field", lambda r: r.update(full_text="")),
        ("bad_row", None),  # a row cut short
        ("missing_field", lambda r: r.update(id_str="")),
        ("bad_timestamp", lambda r: r.update(created_at="Sun Aug 32 23:42:30 +0000 2025")),
        ("schema_violation", lambda r: r.update(full_text="jalan rusak " * 2000)),  # over the contract's 20,000 characters
    ]
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(TWEET_HARVEST_COLUMNS)
        number = 0
        for index, post in enumerate(posts):
            parent = by_id.get(post.get("reply_to") or "")
            handle_name = post["author"]["handle"]
            row = {
                "conversation_id_str": _root(post, by_id), "created_at": legacy_time(post["created_at"]),
                "favorite_count": rng.randrange(50), "full_text": post["text"], "id_str": post["post_id"],
                "image_url": "", "in_reply_to_screen_name": parent["author"]["handle"] if parent else "",
                "lang": "in", "location": rng.choice(["Klaten", "Jawa Tengah", ""]), "quote_count": 0,
                "reply_count": rng.randrange(5), "retweet_count": rng.randrange(9),
                "tweet_url": f"https://x.com/{handle_name}/status/{post['post_id']}",
                "user_id_str": post["author"]["id"], "username": handle_name,
            }
            writer.writerow([row[c] for c in TWEET_HARVEST_COLUMNS])
            number += 1
            expected.good.append(f"twitter:{post['post_id']}")
            if index % BAD_EVERY == BAD_EVERY - 1:
                reason, spoil = bad_rows[(index // BAD_EVERY) % len(bad_rows)]
                broken = dict(row, id_str=str(9000 + index))
                if spoil is None:
                    writer.writerow([broken[c] for c in TWEET_HARVEST_COLUMNS][:6])
                else:
                    spoil(broken)
                    writer.writerow([broken[c] for c in TWEET_HARVEST_COLUMNS])
                number += 1
                expected.bad[number] = reason
    return expected


def _v11(post: dict[str, Any], by_id: dict[str, dict[str, Any]]) -> dict[str, Any]:
    author = post["author"]
    tweet = {
        "created_at": legacy_time(post["created_at"]), "id": int(post["post_id"]), "id_str": post["post_id"],
        "full_text": post["text"], "truncated": False, "display_text_range": [0, len(post["text"])],
        "entities": {"hashtags": [], "symbols": [], "urls": [],
                     "user_mentions": [{"screen_name": h, "name": h, "id_str": str(zlib.crc32(h.encode()))}
                                       for h in post.get("addressed_to") or []]},
        "source": "<a href=\"https://mobile.twitter.com\" rel=\"nofollow\">Twitter Web App</a>",
        "in_reply_to_status_id": int(post["reply_to"]) if post.get("reply_to") else None,
        "in_reply_to_status_id_str": post.get("reply_to"),
        "in_reply_to_screen_name": by_id[post["reply_to"]]["author"]["handle"] if post.get("reply_to") in by_id else None,
        "user": {"id_str": author["id"], "name": author.get("name") or author["handle"], "screen_name": author["handle"],
                 "location": "Klaten", "followers_count": 120},
        "geo": None, "coordinates": None, "place": None, "is_quote_status": False,
        "retweet_count": 0, "favorite_count": 0, "favorited": False, "retweeted": False, "lang": "in",
    }
    if post.get("repost_of") and post["repost_of"] in by_id:
        tweet["retweeted_status"] = _v11(by_id[post["repost_of"]], {})
    return tweet


def write_x_v11(path: Path, rows: int = 230, seed: int = 23) -> Expected:
    posts = _posts(rows, seed, {"twitter"})
    by_id = {p["post_id"]: p for p in posts}
    expected = Expected(path)
    bad_lines: list[tuple[str, Any]] = [
        ("invalid_json", lambda t: orjson.dumps(t)[:80]),
        ("not_an_object", lambda t: b"[1, 2, 3]"),
        ("missing_field", lambda t: orjson.dumps({k: v for k, v in t.items() if k != "user"})),
        ("bad_timestamp", lambda t: orjson.dumps(dict(t, created_at="2025-31-08"))),
        ("schema_violation", lambda t: orjson.dumps(dict(t, full_text=12345))),
        ("missing_field", lambda t: orjson.dumps({k: v for k, v in t.items() if k not in ("id", "id_str")})),
    ]
    with open(path, "wb") as handle:
        number = 0
        for index, post in enumerate(posts):
            tweet = _v11(post, by_id)
            handle.write(orjson.dumps(tweet) + b"\n")
            number += 1
            expected.good.append(f"twitter:{post['post_id']}")
            if index % BAD_EVERY == BAD_EVERY - 1:
                reason, spoil = bad_lines[(index // BAD_EVERY) % len(bad_lines)]
                handle.write(spoil(dict(tweet, id_str=str(9000 + index), id=9000 + index)) + b"\n")
                number += 1
                expected.bad[number] = reason
    return expected


ZONES = (("", WIB), ("", WIB), ("WIB", WIB), ("WITA", timezone(timedelta(hours=8))), ("+07:00", WIB))


def write_desk_export(path: Path, rows: int = 230, seed: int = 24) -> Expected:
    """A spreadsheet of the desk: times as dd/mm/yyyy HH:MM (WIB unless written otherwise)."""
    posts = _posts(rows, seed, None)
    expected = Expected(path)
    bad_rows = [
        ("bad_timestamp", lambda r: r.update(Tanggal="31/02/2026 10:00")),
        ("missing_field", lambda r: r.update({"Isi Aduan": ""})),
        ("schema_violation", lambda r: r.update(Kanal="friendster")),
        ("bad_timestamp", lambda r: r.update(Tanggal="02/11/2026 25:61")),
    ]
    with open(path, "w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle, delimiter=",")
        writer.writerow(DESK_COLUMNS)
        number = 0
        for index, post in enumerate(posts):
            label, tz = ZONES[index % len(ZONES)]
            at = datetime.fromisoformat(post["created_at"]).astimezone(tz)
            row = {"No": index + 1, "Tanggal": f"{at:%d/%m/%Y %H:%M}" + (f" {label}" if label else ""),
                   "Kanal": post["platform"], "ID Unggahan": post["post_id"], "Akun": post["author"]["handle"],
                   "Isi Aduan": post["text"], "Membalas": post.get("reply_to") or ""}
            writer.writerow([row[c] for c in DESK_COLUMNS])
            number += 1
            expected.good.append(f"{post['platform']}:{post['post_id']}")
            if index % BAD_EVERY == BAD_EVERY - 1:
                reason, spoil = bad_rows[(index // BAD_EVERY) % len(bad_rows)]
                broken = dict(row, **{"ID Unggahan": str(9000 + index)})
                spoil(broken)
                writer.writerow([broken[c] for c in DESK_COLUMNS])
                number += 1
                expected.bad[number] = reason
    return expected


def write_all(directory: Path, rows: int = 230) -> dict[str, Expected]:
    directory.mkdir(parents=True, exist_ok=True)
    return {
        "tweet-harvest": write_tweet_harvest(directory / "tweet_harvest.csv", rows),
        "x-v1.1": write_x_v11(directory / "x_v1_1.jsonl", rows),
        "desk": write_desk_export(directory / "desk_export.csv", rows),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory")
    parser.add_argument("--rows", type=int, default=230, help="good rows per file (default 230)")
    args = parser.parse_args()
    for name, expected in write_all(Path(args.directory), args.rows).items():
        print(f"{expected.path}: {len(expected.good)} good rows, {len(expected.bad)} bad rows ({name})")
    print(f"desk export map: --format csv --map '{DESK_MAP}'")


if __name__ == "__main__":
    main()
