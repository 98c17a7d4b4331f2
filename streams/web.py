"""What both HTTP servers (the worker's faust web server and `tanggap ingest-server`) do to
every connection and response: client timeouts and minimal response headers.

Timeouts (aiohttp 3.14): a connection is closed when it has not sent a complete request head
within TANGGAP_HTTP_IDLE_TIMEOUT_SECONDS of opening or of its previous response (aiohttp's
keep-alive timer runs from the connection's start and closes a handler still waiting for a
request: slow headers and idle connections alike); a request body must arrive within
TANGGAP_HTTP_BODY_TIMEOUT_SECONDS (streams/ingest.py, 408); an answer sent before the whole body
was read (408, 413) drains what is still coming for at most LINGERING_SECONDS, then closes.

Headers: `Server` names no software or versions; `X-Content-Type-Options: nosniff` on every
response, the verification echo included (it echoes a caller's text).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

SERVER = "tanggap"
LINGERING_SECONDS = 1.0


def runner_options(settings) -> dict[str, Any]:
    """Keyword arguments of aiohttp's AppRunner / run_app for these servers."""
    # lingering_time: after an answer sent before the body was read (413, 408), aiohttp drains
    # the rest of the body this long (its default is 10 s) before closing.
    return {"keepalive_timeout": settings.http_idle_timeout_seconds, "lingering_time": LINGERING_SECONDS}


async def _headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["Server"] = SERVER
    response.headers["X-Content-Type-Options"] = "nosniff"


def harden(app: web.Application) -> None:
    """Response headers of every answer of `app`."""
    app.on_response_prepare.append(_headers)


def harden_faust(faust_app, settings) -> None:
    """The same for a faust app's web server (its aiohttp application and runner)."""
    driver = faust_app.web
    harden(driver.web_app)
    driver._runner._kwargs.update(runner_options(settings))  # faust 0.15 builds its AppRunner with no options
