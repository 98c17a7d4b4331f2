"""The benchmark's post generator (bench/generate.py): its share of copied complaints."""

from __future__ import annotations

from collections import Counter

from bench.generate import Mix, _desa, generate_posts


def _thread_starters(posts):
    return [p for p in posts if not (p.get("reply_to") or p.get("repost_of"))]


def test_without_the_setting_the_generator_makes_the_posts_it_always_made():
    """The fault tests' expected complaints are built on these posts."""
    assert generate_posts(400, seed=3) == generate_posts(400, seed=3, mix=Mix(copies=1.0))


def test_posts_that_are_not_copies_move_to_a_desa_of_the_regency():
    texts = Counter(p["text"] for p in _thread_starters(generate_posts(2000, seed=3, mix=Mix(copies=0.0))))
    all_copies = Counter(p["text"] for p in _thread_starters(generate_posts(2000, seed=3)))
    assert len(all_copies) < 200, "every post repeats one of the sample's texts"
    assert len(texts) > 5 * len(all_copies), "relocated posts are mostly texts of their own"
    desa_names = {name.lower() for name, _ in _desa()}
    named = sum(any(name in text.lower() for name in desa_names) for text in texts)
    assert named > 0.9 * len(texts), "each names a desa of the gazetteer"
