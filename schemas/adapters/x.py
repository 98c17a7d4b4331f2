"""X (Twitter) API v2 tweet objects to raw posts.

Follows the X API v2 tweet object (`GET /2/tweets`, `GET /2/tweets/search/recent`, filtered
stream) requested with `expansions=author_id,referenced_tweets.id,attachments.media_keys` and
`tweet.fields=created_at,author_id,referenced_tweets,entities,lang,edit_history_tweet_ids,
note_tweet,attachments,conversation_id`, `user.fields=username,name`.

Accepted payloads: a response envelope `{"data": tweet | [tweet, ...], "includes": {...}}`, a
bare tweet object, or a compliance event `{"data": {"delete" | "tweet_edit": ...}}`.

| raw post | X API v2 |
| --- | --- |
| post_id | the *first* id of `edit_history_tweet_ids` (the original tweet), else `id`: an edit is the same post, not a new complaint; the edited version's id goes to `version_id` and `edited` is true |
| text | `note_tweet.text` (long posts) else `text` |
| created_at | `created_at` |
| author | `author_id`; `handle`/`name` from `includes.users` (`username`, `name`) |
| url | `https://x.com/{username}/status/{id}` |
| reply_to | `referenced_tweets[type=replied_to].id` |
| repost_of | `referenced_tweets[type=retweeted].id`, else `[type=quoted].id` (a quote is a repost with a comment) |
| addressed_to | `entities.mentions[].username` |
| lang | `lang` (`und` becomes null) |
| media | media types from `includes.media` for `attachments.media_keys` (a media-only post has a text of just its t.co link) |

Compliance `delete` events are skipped as `deleted`, `tweet_edit` notices as `edit_notice` (the
edited tweet itself arrives as a tweet object).
"""

from __future__ import annotations

from typing import Any

from schemas.adapters import Adapted, AdapterContext, PayloadError, Skipped, raw_post

PLATFORM = "twitter"


def adapt(payload: Any, context: AdapterContext | None = None) -> Adapted:
    if not isinstance(payload, dict):
        raise PayloadError("expected an X API v2 response object or tweet object")
    data = payload.get("data", payload if "id" in payload and "text" in payload else None)
    if data is None:
        raise PayloadError("no `data` in the X API v2 payload")
    if isinstance(data, dict) and ("delete" in data or "tweet_edit" in data):
        return _compliance(data)
    tweets = data if isinstance(data, list) else [data]
    includes = payload.get("includes") or {}
    users = {u.get("id"): u for u in includes.get("users") or [] if isinstance(u, dict)}
    media = {m.get("media_key"): m for m in includes.get("media") or [] if isinstance(m, dict)}
    result = Adapted()
    for tweet in tweets:
        if not isinstance(tweet, dict):
            raise PayloadError("a tweet in `data` is not an object")
        post = _tweet(tweet, users, media)
        if isinstance(post, Skipped):
            result.skipped.append(post)
        else:
            result.posts.append(post)
    return result


def _compliance(data: dict[str, Any]) -> Adapted:
    if "delete" in data:
        tweet = (data["delete"] or {}).get("tweet") or {}
        return Adapted(skipped=[Skipped(str(tweet.get("id", "?")), "deleted", "X compliance delete event")])
    edit = data["tweet_edit"] or {}
    tweet = edit.get("tweet") or {}
    return Adapted(skipped=[Skipped(str(tweet.get("id", "?")), "edit_notice",
                                    "X compliance tweet_edit event; the edited tweet arrives as a tweet object")])


def _tweet(tweet: dict[str, Any], users: dict[str, Any], media: dict[str, Any]) -> dict[str, Any] | Skipped:
    tweet_id = tweet.get("id")
    missing = [name for name in ("id", "created_at", "author_id") if not tweet.get(name)]
    if not isinstance(tweet.get("text"), str):
        missing.append("text")
    if missing:
        return Skipped(str(tweet_id or "?"), "missing_field",
                       f"tweet lacks {', '.join(missing)}: request tweet.fields=created_at,author_id")
    user = users.get(tweet["author_id"]) or {}
    username = user.get("username")
    history = [str(i) for i in tweet.get("edit_history_tweet_ids") or []]
    original_id = history[0] if history else str(tweet_id)
    edited = original_id != str(tweet_id)
    references = {ref.get("type"): ref.get("id") for ref in tweet.get("referenced_tweets") or [] if isinstance(ref, dict)}
    mentions = [m.get("username") for m in (tweet.get("entities") or {}).get("mentions") or [] if isinstance(m, dict)]
    media_keys = (tweet.get("attachments") or {}).get("media_keys") or []
    media_types = [media.get(key, {}).get("type", "unknown") for key in media_keys]
    text = (tweet.get("note_tweet") or {}).get("text") or tweet["text"]
    lang = tweet.get("lang")
    return raw_post(
        PLATFORM, original_id, text, tweet["created_at"], tweet["author_id"],
        handle=username, name=user.get("name"),
        url=f"https://x.com/{username}/status/{original_id}" if username else f"https://x.com/i/web/status/{original_id}",
        reply_to=references.get("replied_to"),
        repost_of=references.get("retweeted") or references.get("quoted"),
        addressed_to=[m for m in mentions if m],
        lang=None if lang in (None, "und", "zxx", "qme", "qam", "qht") else lang,
        edited=True if edited else None, version_id=str(tweet_id) if edited else None,
        media=media_types or None,
    )
