"""Realistic posts for benchmarks, generated from the bundled sample.

Citizen posts of the sample are the templates; the generator gives each copy a fresh id, author
and time and mixes in redeliveries, reposts, citizen replies and official replies in
configurable proportions. Fixed seeds make runs repeatable.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
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


def _templates() -> tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    """Citizen posts that start a thread, and official replies by platform."""
    citizen: list[dict[str, Any]] = []
    official: dict[str, list[dict[str, Any]]] = {}
    for line in bundled_sample().read_bytes().splitlines():
        post = orjson.loads(line)
        kind = post.pop("expect")["kind"]
        if kind == "respon_resmi":
            official.setdefault(post["platform"], []).append(post)
        elif not (post.get("reply_to") or post.get("repost_of")):
            citizen.append(post)
    return citizen, official


def generate_posts(count: int, seed: int = 7, mix: Mix = Mix(),
                   start: datetime = datetime(2026, 11, 2, 6, 0, tzinfo=WIB),
                   mean_gap_seconds: float = 20.0) -> list[dict[str, Any]]:
    """`count` posts from `start`, `mean_gap_seconds` apart on average (exponential gaps)."""
    rng = random.Random(seed)
    citizen, official = _templates()
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
            opened.append(post)
        posts.append(post)
    return posts


def encoded(posts: list[dict[str, Any]]) -> list[tuple[bytes, bytes]]:
    return [(message_key(p), orjson.dumps(p)) for p in posts]
