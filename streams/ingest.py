"""The ingest door: HTTP handlers that validate posts and publish them to `posts.raw`.

    POST /ingest               one raw post or a JSON array of them (the raw-post contract)
    POST /ingest/{format}      a platform's native payload: x, meta, whatsapp, tiktok, youtube
    GET  /ingest/meta|whatsapp Meta's webhook verification (hub.mode, hub.verify_token, hub.challenge)
    GET  /ingest/x             X's CRC check (crc_token, answered with an HMAC-SHA256 response_token)

The same handlers run on the worker's faust web server (`register`) and in the standalone
`tanggap ingest-server` (`build_server`), so both behave identically.

A request is all or nothing: when any item breaks the contract the answer is 422 with a reason
per rejected item and nothing is published, so a client can fix and resend the batch without
guessing what went through. Items an adapter skips on purpose (deletions, delivery receipts)
are not errors: the 2xx answer lists them with their reason. The answer comes after the broker
acknowledged every message: 202 means published. A broker that does not acknowledge within
TANGGAP_INGEST_PUBLISH_TIMEOUT_SECONDS gets the client a 503 with Retry-After; part of the batch
may have been published then, so clients resend the whole batch (the pipeline recognizes a
post delivered twice by its key).

Authentication: a bearer token from TANGGAP_INGEST_TOKENS, or for /ingest/meta and
/ingest/whatsapp Meta's X-Hub-Signature-256 (HMAC-SHA256 of the body with the app secret),
since Meta cannot send a bearer token. Logs carry the format, status and counts, never a body,
a query string or an author.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from collections import Counter as Counter_
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import orjson
from aiohttp import web
from prometheus_client import Counter

from schemas.adapters import FORMATS, AdapterContext, AdapterSetupError, PayloadError, adapter
from schemas.adapters.x_crc import MAX_CRC_TOKEN_CHARS, crc_response
from schemas.events import LIMITS, InvalidInput, RawPost, configure_limits
from streams.settings import Settings
from streams.web import harden, runner_options

log = logging.getLogger(__name__)

Publisher = Callable[[Sequence[tuple[bytes, bytes]]], Awaitable[None]]
SIGNED_FORMATS = ("meta", "whatsapp")
LINE_FORMATS = ("tiktok", "youtube")
"""Exports that arrive as JSON lines; a JSON array or a single object works too."""
MAX_REJECTED_LISTED = 100
"""Rejected items a 422 lists one by one; `rejected_total` counts them all."""
MAX_JSON_DEPTH = 64
"""Deepest nesting of arrays and objects a body may have. orjson parses 1,024 levels but writes
at most 254, so a deeper post would pass validation and fail to publish; real payloads nest
fewer than 10."""

ingest_requests = Counter("tanggap_ingest_requests_total", "Ingest HTTP requests by format and status code",
                          ("format", "status"))
ingest_items = Counter("tanggap_ingest_items_total",
                       "Items of ingest requests: accepted (published), rejected (contract violation) or skipped "
                       "(deletions, receipts; reason label)", ("format", "outcome", "reason"))


class TooManyItems(ValueError):
    """A request with more items than TANGGAP_INGEST_MAX_ITEMS (an HTTP answer, not a dead letter)."""


class Ingest:
    def __init__(self, settings: Settings, publish: Publisher, topic_label: str = "posts.raw") -> None:
        self.settings = settings
        self.publish = publish
        # The limits the worker applies to what it reads from posts.raw: a post the door accepts
        # must not become a `too_large` dead letter there.
        configure_limits(max_message_bytes=settings.max_message_bytes, max_text_chars=settings.max_text_chars)
        self.context = AdapterContext(
            accounts=settings.ingest_accounts,
            whatsapp_hash_key=settings.ingest_whatsapp_hash_key.encode() if settings.ingest_whatsapp_hash_key else None,
        )

    # -- responses -----------------------------------------------------------------------------

    def _reply(self, fmt: str, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> web.Response:
        ingest_requests.labels(fmt, str(status)).inc()
        level = logging.DEBUG if status < 400 else logging.WARNING
        log.log(level, "ingest %s: %s accepted=%d rejected=%d skipped=%d error=%s", fmt, status,
                len(body.get("accepted", ())), len(body.get("rejected", ())), len(body.get("skipped", ())),
                body.get("error", "-"))
        return web.Response(body=orjson.dumps(body), status=status, content_type="application/json", headers=headers)

    def _error(self, fmt: str, status: int, error: str, detail: str, headers: dict[str, str] | None = None) -> web.Response:
        return self._reply(fmt, status, {"error": error, "detail": detail}, headers)

    # -- authentication ------------------------------------------------------------------------

    def _bearer_ok(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return False
        # aiohttp hands over header bytes that are not UTF-8 as surrogates: compare bytes.
        presented = _header_bytes(token.strip())
        # compare_digest against every configured token: rotation keeps two valid at once.
        return any(hmac.compare_digest(presented, known.encode()) for known in self.settings.ingest_tokens)

    def _signature_ok(self, request: web.Request, body: bytes) -> bool:
        secret = self.settings.ingest_meta_app_secret
        header = request.headers.get("X-Hub-Signature-256", "")
        if not secret or not header.startswith("sha256="):
            return False
        expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest().encode()
        # Bytes: compare_digest refuses str with non-ASCII characters (a TypeError, a 500).
        return hmac.compare_digest(_header_bytes(header[len("sha256="):].strip().lower()), expected)

    # -- handlers ------------------------------------------------------------------------------

    async def verify(self, request: web.Request, fmt: str) -> web.Response:
        """Meta's subscription handshake: echo hub.challenge when hub.verify_token matches; X's
        CRC check on /ingest/x."""
        if fmt == "x":
            return self.x_crc(request)
        if fmt not in SIGNED_FORMATS:
            return self._error(fmt if fmt in FORMATS else "unknown", 405, "method_not_allowed", "GET is only for Meta's verification")
        expected = self.settings.ingest_meta_verify_token
        query = request.query
        token = query.get("hub.verify_token", "")
        if (query.get("hub.mode") == "subscribe" and expected
                and hmac.compare_digest(_header_bytes(token), expected.encode()) and "hub.challenge" in query):
            ingest_requests.labels(fmt, "200").inc()
            return web.Response(text=query["hub.challenge"], content_type="text/plain")
        return self._error(fmt, 403, "verification_failed", "hub.mode must be subscribe and hub.verify_token must match")

    def x_crc(self, request: web.Request) -> web.Response:
        """X's Challenge-Response Check (schemas/adapters/x_crc.py)."""
        secret = self.settings.ingest_x_consumer_secret
        token = request.query.get("crc_token", "")
        if not token or len(token) > MAX_CRC_TOKEN_CHARS:
            return self._error("x", 400, "bad_crc_token", "GET /ingest/x answers X's CRC check: ?crc_token=...")
        if not secret:
            return self._error("x", 503, "not_configured", "no X consumer secret (TANGGAP_INGEST_X_CONSUMER_SECRET)")
        ingest_requests.labels("x", "200").inc()
        return web.Response(body=orjson.dumps(crc_response(secret, token)), content_type="application/json")

    async def handle(self, request: web.Request, fmt: str = "raw") -> web.Response:
        try:
            return await self._handle(request, fmt)
        except (asyncio.CancelledError, web.HTTPException):
            raise
        except Exception as exc:
            # A bug: the answer names no detail, the log names the exception's type and where it
            # was raised (not its message, which may quote the body), and the metric counts it.
            import traceback

            where = traceback.extract_tb(exc.__traceback__)[-1]
            log.error("ingest %s: internal error %s at %s:%s", fmt if fmt in FORMATS else "unknown",
                      type(exc).__name__, where.filename, where.lineno)
            return self._error(fmt if fmt in FORMATS else "unknown", 500, "internal_error", "the request failed")

    async def _handle(self, request: web.Request, fmt: str) -> web.Response:
        try:
            body = await self._authorized_body(request, fmt)
            posts, skipped = self._adapted(body, fmt)
            accepted, rejected, messages = validate(posts)
            for item in skipped:
                ingest_items.labels(fmt, "skipped", item.reason).inc()
            if rejected:
                for item in rejected:
                    ingest_items.labels(fmt, "rejected", item["reason"]).inc()
                return self._reply(fmt, 422, {"accepted": [], "rejected": rejected[:MAX_REJECTED_LISTED],
                                              "rejected_total": len(rejected),
                                              "skipped": [s.to_json() for s in skipped]})
            if messages:
                await self._publish_in_time(fmt, messages)
        except _Answered as answer:
            return answer.response
        ingest_items.labels(fmt, "accepted", "").inc(len(accepted))
        # Meta retries webhooks that are not answered with 200.
        status = 200 if fmt in SIGNED_FORMATS else 202
        return self._reply(fmt, status, {"accepted": accepted, "skipped": [s.to_json() for s in skipped]})

    async def _authorized_body(self, request: web.Request, fmt: str) -> bytes:
        """The request's body, once the format is known, the caller authorized (a bearer token,
        or Meta's signature of the body) and the body within its size and time limits."""
        if fmt not in FORMATS:
            raise _Answered(self._error("unknown", 404, "unknown_format",
                                        f"use /ingest or /ingest/{{{','.join(FORMATS[1:])}}}"))
        signed = fmt in SIGNED_FORMATS and bool(self.settings.ingest_meta_app_secret)
        if not self.settings.ingest_tokens and not signed:
            raise _Answered(self._error(fmt, 503, "ingest_disabled", "no ingest token configured (TANGGAP_INGEST_TOKENS)"))
        bearer = self._bearer_ok(request)
        if not bearer and not (signed and "X-Hub-Signature-256" in request.headers):
            raise _Answered(self._error(fmt, 401, "unauthorized", "missing or invalid bearer token",
                                        {"WWW-Authenticate": 'Bearer realm="tanggap-ingest"'}))
        try:
            body = await read_limited(request, self.settings.ingest_max_body_bytes,
                                      self.settings.http_body_timeout_seconds)
        except TimeoutError:
            raise _Answered(self._error(fmt, 408, "body_timeout",
                                        f"the body did not arrive within {self.settings.http_body_timeout_seconds:g} s",
                                        {"Connection": "close"})) from None
        if body is None:
            raise _Answered(self._error(fmt, 413, "body_too_large",
                                        f"the body exceeds {self.settings.ingest_max_body_bytes} bytes; send smaller batches"))
        if not bearer and not self._signature_ok(request, body):
            raise _Answered(self._error(fmt, 401, "bad_signature", "X-Hub-Signature-256 does not match the body"))
        return body

    def _adapted(self, body: bytes, fmt: str) -> tuple[list, list]:
        """The body's posts and skipped items, through the format's adapter, within the item limit."""
        most = self.settings.ingest_max_items
        try:
            payloads = parse_body(body, fmt, most)
            convert = adapter(fmt)
            posts, skipped = [], []
            for payload in payloads:
                adapted = convert(payload, self.context)
                posts.extend(adapted.posts)
                skipped.extend(adapted.skipped)
        except TooManyItems as exc:
            raise _Answered(self._error(fmt, 413, "too_many_items", str(exc))) from None
        except InvalidInput as exc:
            raise _Answered(self._error(fmt, 400, exc.reason, exc.detail)) from None
        except PayloadError as exc:
            raise _Answered(self._error(fmt, 400, "unrecognized_payload", str(exc))) from None
        except AdapterSetupError as exc:
            raise _Answered(self._error(fmt, 503, "not_configured", str(exc))) from None
        if len(posts) + len(skipped) > most:
            raise _Answered(self._error(fmt, 413, "too_many_items", _too_many(len(posts) + len(skipped), most)))
        return posts, skipped

    async def _publish_in_time(self, fmt: str, messages: list) -> None:
        timeout = self.settings.ingest_publish_timeout_seconds
        try:
            # Shielded: a timeout answers the client, and the sends already queued on the
            # producer finish or fail there (the producer's futures are not cancelled).
            publishing = asyncio.ensure_future(self.publish(messages))
            publishing.add_done_callback(_retrieve)
            await asyncio.wait_for(asyncio.shield(publishing), timeout)
        except Exception as exc:  # the broker is down, slow or refused: the client must retry
            failure = f"no acknowledgement in {timeout:g} s" if isinstance(exc, asyncio.TimeoutError) else type(exc).__name__
            log.error("ingest %s: publishing %d posts failed: %s", fmt, len(messages), failure)
            raise _Answered(self._error(
                fmt, 503, "broker_unavailable",
                "the broker did not acknowledge every post; some may have been published: "
                "resend the whole batch later (post keys make the resent copies duplicates)",
                {"Retry-After": str(max(1, round(timeout)))})) from None


class _Answered(Exception):
    """A request answered before its posts were published (an error the client must see)."""

    def __init__(self, response: web.Response) -> None:
        super().__init__(response.status)
        self.response = response


def _retrieve(task: asyncio.Future) -> None:
    """Consume the outcome of a publish the client no longer waits for (no asyncio warning)."""
    if not task.cancelled():
        task.exception()


def _header_bytes(value: str) -> bytes:
    return value.encode("utf-8", "surrogateescape")


def json_depth(value: Any, limit: int) -> int:
    """The nesting depth of a parsed JSON value, counted up to `limit` + 1 (iterative: a hostile
    body must not cost recursion)."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


def _checked_depth(value: Any, where: str = "") -> Any:
    if json_depth(value, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise InvalidInput("invalid_json", f"{where}nested deeper than {MAX_JSON_DEPTH} levels")
    return value


async def read_limited(request: web.Request, limit: int, timeout: float | None = None) -> bytes | None:
    """The body, or None when it is larger than `limit` (checked before and while reading);
    TimeoutError when it takes longer than `timeout` seconds to arrive."""
    if request.content_length is not None and request.content_length > limit:
        return None
    chunks, size = [], 0
    async with asyncio.timeout(timeout):
        async for chunk in request.content.iter_chunked(1 << 16):
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
    return b"".join(chunks)


def _too_many(items: int, most: int) -> str:
    return f"{items} items, at most {most} per request (TANGGAP_INGEST_MAX_ITEMS); send smaller batches"


def parse_body(body: bytes, fmt: str, most: int | None = None) -> list[Any]:
    """The payloads of a body: a JSON value, or for export formats also JSON lines. For `raw`,
    an array is a batch of posts; for other formats an array is handed to the adapter whole.
    More than `most` posts (raw arrays, lines) is `too_many_items`, found before any other work."""
    if not body.strip():
        raise InvalidInput("invalid_json", "empty body")
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if fmt not in LINE_FORMATS:
            raise InvalidInput("invalid_json", str(exc)) from None
    else:
        if most is not None and fmt == "raw" and isinstance(value, list) and len(value) > most:
            raise TooManyItems(_too_many(len(value), most))
        return [_checked_depth(value)]
    lines = body.splitlines()
    if most is not None and len(lines) > most and sum(1 for line in lines if line.strip()) > most:
        raise TooManyItems(_too_many(sum(1 for line in lines if line.strip()), most))
    payloads = []
    for number, line in enumerate(lines, start=1):
        if line.strip():
            try:
                payloads.append(_checked_depth(orjson.loads(line), f"line {number}: "))
            except orjson.JSONDecodeError as exc:
                raise InvalidInput("invalid_json", f"line {number}: {exc}") from None
    return payloads


def validate(posts: list[Any]) -> tuple[list[str], list[dict[str, Any]], list[tuple[bytes, bytes]]]:
    """Keys of valid posts, reasons of invalid ones, and the messages to publish."""
    accepted: list[str] = []
    rejected: list[dict[str, Any]] = []
    messages: list[tuple[bytes, bytes]] = []
    for index, post in enumerate(posts):
        if not isinstance(post, dict):
            rejected.append({"index": index, "reason": "not_an_object",
                             "detail": f"expected a JSON object, got {type(post).__name__}"})
            continue
        try:
            parsed = RawPost.parse(post)
        except InvalidInput as exc:
            rejected.append({"index": index, "post_id": post.get("post_id") if isinstance(post.get("post_id"), str) else None,
                             "reason": exc.reason, "detail": exc.detail})
            continue
        try:
            value = orjson.dumps(post)
        except orjson.JSONEncodeError as exc:  # e.g. nested deeper than orjson writes
            rejected.append({"index": index, "post_id": parsed.post_id, "reason": "schema_violation",
                             "detail": f"cannot be serialized: {exc}"})
            continue
        if len(value) > LIMITS.max_message_bytes:
            rejected.append({"index": index, "post_id": parsed.post_id, "reason": "too_large",
                             "detail": f"{len(value)} bytes as published, limit {LIMITS.max_message_bytes} "
                                       "(TANGGAP_MAX_MESSAGE_BYTES)"})
            continue
        accepted.append(parsed.key)
        messages.append((parsed.thread_key.encode(), value))
    return accepted, rejected, messages


async def send_all(send: Callable[[bytes, bytes], Awaitable[asyncio.Future]],
                   messages: Sequence[tuple[bytes, bytes]]) -> None:
    """Queue every message on a producer (in order: one partition keeps a thread's order), then
    wait until the broker acknowledged them all; the worker's faust producer and the standalone
    server's aiokafka producer both queue a send and return its acknowledgement as a future."""
    pending = [await send(key, value) for key, value in messages]
    await asyncio.gather(*pending)


# -- the worker's web server ---------------------------------------------------------------------

def register(pipeline) -> Ingest:
    """Mount the ingest routes on the worker's faust web server; publishing goes through the
    worker's faust producer, so it follows the worker's producer settings."""
    import faust

    async def publish(messages: Sequence[tuple[bytes, bytes]]) -> None:
        token = pipeline.publishing.begin()  # readiness hears of a broker that does not acknowledge
        ok = False
        try:
            await send_all(lambda key, value: pipeline.produce("posts_raw", key, value), messages)
            ok = True
        finally:
            pipeline.publishing.end(token, ok)

    ingest = Ingest(pipeline.settings, publish)

    class IngestRoot(faust.web.View):
        async def post(self, request: web.Request) -> web.Response:
            return await ingest.handle(request, "raw")

    class IngestFormat(faust.web.View):
        async def get(self, request: web.Request, format: str) -> web.Response:  # noqa: A002 (route variable)
            return await ingest.verify(request, format)

        async def post(self, request: web.Request, format: str) -> web.Response:  # noqa: A002
            return await ingest.handle(request, format)

    pipeline.app.page("/ingest")(IngestRoot)
    pipeline.app.page("/ingest/{format}")(IngestFormat)
    return ingest


# -- the standalone server -----------------------------------------------------------------------

def add_routes(app: web.Application, ingest: Ingest) -> None:
    """The ingest routes of an aiohttp application (the standalone server, tests)."""

    async def post_root(request: web.Request) -> web.Response:
        return await ingest.handle(request, "raw")

    async def post_format(request: web.Request) -> web.Response:
        return await ingest.handle(request, request.match_info["format"])

    async def get_format(request: web.Request) -> web.Response:
        return await ingest.verify(request, request.match_info["format"])

    app.router.add_post("/ingest", post_root)
    app.router.add_post("/ingest/{format}", post_format)
    app.router.add_get("/ingest/{format}", get_format)


def build_server(settings: Settings) -> web.Application:
    """An aiohttp application with the ingest routes, /health and /metrics, publishing with its
    own aiokafka producer (the same producer settings as every Tanggap client)."""
    from streams import kafka, metrics

    topic = settings.topic("posts.raw")
    state: dict[str, Any] = {}

    async def publish(messages: Sequence[tuple[bytes, bytes]]) -> None:
        producer = state["producer"]
        await send_all(lambda key, value: producer.send(topic, value=value, key=key), messages)

    ingest = Ingest(settings, publish)

    async def start_producer(app: web.Application) -> None:
        state["producer"] = kafka.producer(settings)
        await kafka.start(state["producer"])

    async def stop_producer(app: web.Application) -> None:
        if "producer" in state:
            await state["producer"].stop()

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "role": "ingest", "topic": topic})

    async def metrics_page(request: web.Request) -> web.Response:
        body, content_type = metrics.exposition()
        return web.Response(body=body, headers={"Content-Type": content_type})

    app = web.Application()
    harden(app)
    app.on_startup.append(start_producer)
    app.on_cleanup.append(stop_producer)
    add_routes(app, ingest)
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics_page)
    return app


def serve(settings: Settings, host: str, port: int) -> None:
    from streams.kafka import create_topics

    from streams.logs import configure

    configure(settings.log_level, settings.log_format)
    asyncio.run(create_topics(settings))
    print(f"ingest server on http://{host}:{port}/ingest -> {settings.topic('posts.raw')} at {settings.broker}", flush=True)
    # access_log=None: access lines would carry query strings (hub.verify_token) and client addresses.
    web.run_app(build_server(settings), host=host, port=port, print=None, access_log=None, **runner_options(settings))


# -- files (tanggap replay --format) -------------------------------------------------------------

def adapt_lines(lines: Iterable[tuple[int, bytes]], fmt: str, settings: Settings
                ) -> tuple[list[tuple[bytes, bytes]], list[str], Counter_[str]]:
    """One native payload per line to messages for `posts.raw`; returns the messages, one
    problem line per line that could not be used (never its content), and skip reasons counted."""
    context = Ingest(settings, _no_publish).context
    convert = adapter(fmt)
    messages: list[tuple[bytes, bytes]] = []
    problems: list[str] = []
    skipped: Counter_[str] = Counter_()
    for number, line in lines:
        try:
            adapted = convert(orjson.loads(line), context)
        except orjson.JSONDecodeError as exc:
            problems.append(f"line {number}: invalid_json: {exc}")
            continue
        except PayloadError as exc:
            problems.append(f"line {number}: unrecognized_payload: {exc}")
            continue
        skipped.update(item.reason for item in adapted.skipped)
        _, rejected, valid = validate(adapted.posts)
        problems.extend(f"line {number}: {item['reason']}: {item['detail']}" for item in rejected)
        messages.extend(valid)
    return messages, problems, skipped


async def _no_publish(messages: Sequence[tuple[bytes, bytes]]) -> None:
    raise RuntimeError("files are published by the caller")


def post_batches(url: str, token: str, values: Sequence[bytes], batch_size: int = 500, timeout: float = 60.0) -> int:
    """POST raw-post JSON values to an ingest URL as JSON arrays; returns how many were accepted.
    A client for the demo and benchmarks: stops at the first answer that is not 2xx."""
    import urllib.request

    accepted = 0
    for start in range(0, len(values), batch_size):
        body = b"[" + b",".join(values[start:start + batch_size]) + b"]"
        request = urllib.request.Request(url, data=body, method="POST", headers={
            "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            accepted += len(orjson.loads(response.read())["accepted"])
    return accepted
