"""X's Challenge-Response Check (CRC) for Account Activity API webhooks.

When a webhook URL is registered, and about hourly after that, X sends
`GET <webhook url>?crc_token=<token>` and expects, within three seconds, a 200 answer with the
JSON body

    {"response_token": "sha256=" + base64(HMAC-SHA256(key=consumer secret, message=crc_token))}

(X developer platform, "Securing webhooks": the app's API key secret, also called the consumer
secret, is the HMAC key; the digest is the raw 32 bytes, base64 encoded). A webhook that fails
the check is disabled. The same key signs the webhook's POST bodies (`x-twitter-webhooks-signature`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac

MAX_CRC_TOKEN_CHARS = 512
"""X's tokens are short; a longer one is not X's and is refused before any hashing."""


def crc_response_token(consumer_secret: str, crc_token: str) -> str:
    """`sha256=` + base64 of HMAC-SHA256(consumer secret, crc_token)."""
    digest = hmac.new(consumer_secret.encode("utf-8"), crc_token.encode("utf-8"), hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode("ascii")


def crc_response(consumer_secret: str, crc_token: str) -> dict[str, str]:
    """The JSON body of the answer to a CRC request."""
    return {"response_token": crc_response_token(consumer_secret, crc_token)}
