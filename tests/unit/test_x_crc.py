"""X's CRC check: the algorithm against an independent HMAC-SHA256 vector, and the handler."""

from __future__ import annotations

import asyncio
import base64

import orjson
from aiohttp.test_utils import make_mocked_request

from schemas.adapters.x_crc import crc_response, crc_response_token
from streams.ingest import Ingest
from streams.settings import Settings

SECRET = "test-x-consumer-secret"


def test_response_token_is_base64_of_hmac_sha256_of_the_token_keyed_by_the_consumer_secret():
    # RFC 4231, test case 2: HMAC-SHA256(key "Jefe", "what do ya want for nothing?").
    expected = bytes.fromhex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    token = crc_response_token("Jefe", "what do ya want for nothing?")
    assert token == "sha256=W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM="
    assert base64.b64decode(token.removeprefix("sha256=")) == expected
    assert crc_response("Jefe", "what do ya want for nothing?") == {"response_token": token}


def settings(**env: str) -> Settings:
    return Settings.from_env({"TANGGAP_INGEST_TOKENS": "t", **env})


async def _no_publish(messages):
    raise AssertionError("a CRC check publishes nothing")


def answer(ingest: Ingest, query: str):
    response = asyncio.run(ingest.verify(make_mocked_request("GET", f"/ingest/x?{query}"), "x"))
    return response.status, orjson.loads(response.body)


def test_the_ingest_door_answers_the_crc_check_with_the_configured_secret():
    ingest = Ingest(settings(TANGGAP_INGEST_X_CONSUMER_SECRET=SECRET), _no_publish)
    status, body = answer(ingest, "crc_token=Yzk3NzQ5MjYtZjQ1Ny00")
    assert status == 200
    assert body == {"response_token": crc_response_token(SECRET, "Yzk3NzQ5MjYtZjQ1Ny00")}


def test_a_crc_check_without_a_token_or_without_a_secret_is_refused():
    configured = Ingest(settings(TANGGAP_INGEST_X_CONSUMER_SECRET=SECRET), _no_publish)
    assert answer(configured, "")[0] == 400
    assert answer(configured, "crc_token=" + "a" * 600)[0] == 400
    status, body = answer(Ingest(settings(), _no_publish), "crc_token=abc")
    assert status == 503 and body["error"] == "not_configured"


def test_the_consumer_secret_is_a_secret_setting():
    from streams.settings import SETTINGS

    configured = settings(TANGGAP_INGEST_X_CONSUMER_SECRET=SECRET)
    assert configured.ingest_x_consumer_secret == SECRET
    assert SECRET not in repr(configured)
    assert next(s for s in SETTINGS if s.env == "TANGGAP_INGEST_X_CONSUMER_SECRET").secret
