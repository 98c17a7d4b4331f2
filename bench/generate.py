"""Realistic posts for benchmarks, generated from the bundled sample.

Citizen posts of the sample are the templates; the generator gives each copy a fresh id, author
and time and mixes in redeliveries, reposts, citizen replies and official replies in
configurable proportions. Fixed seeds make runs repeatable.
"""

from __future__ import annotations

import csv
import random
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson

from schemas.events import message_key
from streams.demo import bundled_sample

WIB = timezone(timedelta(hours=7))


@dataclass(frozen=True)
class Mix:
    redelivery: float = 0.03
    repost: float = 0.05
    reply: float = 0.05
    official_reply: float = 0.15
    copies: float = 1.0
    """Share of new thread-starting posts that repeat their template's text as it is, place
    included. The sample has about 150 such templates, so with 1.0 every complaint after the
    first few hundred is a copy of an open one: the clustering stage's worst case (survivors with
    hundreds of mentions, each merge rewriting a large table entry). The other posts are moved
    to a random desa of the regency: their own complaints, unless the same problem lands in the
    same desa again (then they are copies, as they would be in life)."""


GAZETTEER = Path(__file__).resolve().parents[1] / "deploy" / "config" / "klaten" / "gazetteer" / "wilayah.csv"


@lru_cache(maxsize=1)
def _desa() -> list[tuple[str, str]]:
    """(desa or kelurahan, its kecamatan) of the default regency."""
    with GAZETTEER.open(newline="") as f:
        return [(row["nama"], row["kecamatan"]) for row in csv.DictReader(f)
                if row["level"] in ("desa", "kelurahan")]


def _relocated(template: dict[str, Any], place: dict[str, Any], rng: random.Random) -> str:
    """The template's text about another desa: its own place names replaced, or one added."""
    desa, kecamatan = rng.choice(_desa())
    text = template["text"]
    replaced = False
    for old, new in ((place.get("desa"), desa), (place.get("kecamatan"), kecamatan)):
        if old:
            text, count = re.subn(rf"\b{re.escape(old)}\b", new, text, flags=re.IGNORECASE)
            replaced = replaced or count > 0
    return text if replaced else f"{text} (desa {desa}, kec. {kecamatan})"


def _templates() -> tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]], dict[str, dict[str, Any]]]:
    """Citizen posts that start a thread, official replies by platform, and the labelled place
    of each citizen post (by post id)."""
    citizen: list[dict[str, Any]] = []
    official: dict[str, list[dict[str, Any]]] = {}
    places: dict[str, dict[str, Any]] = {}
    for line in bundled_sample().read_bytes().splitlines():
        post = orjson.loads(line)
        expect = post.pop("expect")
        if expect["kind"] == "respon_resmi":
            official.setdefault(post["platform"], []).append(post)
        elif not (post.get("reply_to") or post.get("repost_of")):
            citizen.append(post)
            places[post["post_id"]] = expect
    return citizen, official, places


def generate_posts(count: int, seed: int = 7, mix: Mix = Mix(),
                   start: datetime = datetime(2026, 11, 2, 6, 0, tzinfo=WIB),
                   mean_gap_seconds: float = 20.0) -> list[dict[str, Any]]:
    """`count` posts from `start`, `mean_gap_seconds` apart on average (exponential gaps)."""
    rng = random.Random(seed)
    citizen, official, places = _templates()
    posts: list[dict[str, Any]] = []
    opened: list[dict[str, Any]] = []
    at = start
    for i in range(count):
        at += timedelta(seconds=rng.expovariate(1 / mean_gap_seconds))
        roll = rng.random()
        if opened and roll < mix.redelivery:
            posts.append(rng.choice(posts))
            continue
        roll -= mix.redelivery
        parent = rng.choice(opened[-500:]) if opened else None
        template = rng.choice(citizen)
        post = {**template, "post_id": f"b{seed}-{i}", "created_at": at.isoformat(),
                "author": {"id": f"u-{rng.randrange(10**9)}", "handle": f"warga{rng.randrange(10**6)}", "name": None},
                "url": None, "reply_to": None, "repost_of": None}
        if parent is not None and roll < mix.repost:
            post.update(platform=parent["platform"], text="RT " + parent["text"], repost_of=parent["post_id"])
        elif parent is not None and roll < mix.repost + mix.reply:
            post.update(platform=parent["platform"], text="sama di sini min, tolong", reply_to=parent["post_id"])
        elif parent is not None and official.get(parent["platform"]) and roll < mix.repost + mix.reply + mix.official_reply:
            reply = rng.choice(official[parent["platform"]])
            post.update(platform=parent["platform"], text=reply["text"], author=reply["author"],
                        reply_to=parent["post_id"])
        else:
            # rng is drawn only when copies < 1: a mix without the setting makes the same posts
            # as before it existed (the fault tests' expectations are built on them).
            if mix.copies < 1.0 and rng.random() >= mix.copies:
                post["text"] = _relocated(template, places[template["post_id"]], rng)
            opened.append(post)
        posts.append(post)
    return posts


def encoded(posts: list[dict[str, Any]]) -> list[tuple[bytes, bytes]]:
    return [(message_key(p), orjson.dumps(p)) for p in posts]
