"""Refused Kafka credentials become one clear line (streams.security.authentication_refusal,
streams.kafka.KafkaAuthenticationFailed), for every client the tools and workers start, and the
password never appears in it. The real broker's refusal is in tests/integration/test_security.py."""

from __future__ import annotations

import asyncio
import logging
import types

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.conn import ScramAuthenticator
from aiokafka.errors import KafkaConnectionError, SaslAuthenticationFailed

from streams import kafka
from streams.security import authentication_failed_message, authentication_refusal

PASSWORD = "s3cret-Pa55word-never-printed"
SASL = {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-256",
        "sasl_plain_username": "desk", "sasl_plain_password": PASSWORD}


def scram_error_reply(reply: str) -> BaseException:
    """What aiokafka 0.14 raises when a broker answers the SCRAM proof with an error attribute."""
    try:
        ScramAuthenticator.process_server_final_message(types.SimpleNamespace(_server_signature=b""), reply)
    except (KeyError, ValueError) as exc:
        return exc
    raise AssertionError("aiokafka accepted a SCRAM error reply")


def test_aiokafka_reads_a_scram_error_reply_as_a_bare_key_error():
    # The bug this mapping exists for; if aiokafka fixes it, the mapping of its real error applies.
    assert isinstance(scram_error_reply("e=invalid-proof"), KeyError)


@pytest.mark.parametrize("code", ["invalid-proof", "unknown-user", "other-error"])
def test_a_scram_error_reply_is_an_authentication_refusal_naming_the_rfc_code(code):
    assert authentication_refusal(scram_error_reply(f"e={code}")) == f"the broker answered {code}"


def test_a_scram_error_outside_the_rfc_vocabulary_is_not_repeated():
    reason = authentication_refusal(scram_error_reply(f"e=bad password {PASSWORD}"))
    assert reason == "the broker refused the SCRAM exchange"


def test_a_real_kafka_refusal_keeps_the_broker_message():
    refused = SaslAuthenticationFailed("Authentication failed during authentication due to invalid credentials")
    assert "invalid credentials" in authentication_refusal(refused)


def test_other_errors_are_not_authentication_refusals():
    assert authentication_refusal(KeyError("v")) is None  # not raised inside aiokafka's SCRAM code
    assert authentication_refusal(ValueError("nope")) is None
    assert authentication_refusal(KafkaConnectionError("Unable to bootstrap")) is None


def test_the_message_names_user_mechanism_and_settings_and_masks_an_echoed_password():
    message = authentication_failed_message("desk", "SCRAM-SHA-256", f"broker said {PASSWORD}", PASSWORD)
    assert message.startswith("Kafka authentication failed for user 'desk' (SASL SCRAM-SHA-256)")
    assert "TANGGAP_KAFKA_PASSWORD" in message and "TANGGAP_KAFKA_SASL_MECHANISM" in message
    assert PASSWORD not in message and "\n" not in message


def failing_start(client, error: BaseException, logged: BaseException | None = None):
    calls = {"released": 0}
    original_release = client.close if isinstance(client, AIOKafkaAdminClient) else client.stop

    async def start() -> None:
        if logged is not None:
            # aiokafka's bootstrap logs the connection's real error, then raises a generic one.
            logging.getLogger("aiokafka").error('Unable connect to "%s:%s": %s', "127.0.0.1", 9092, logged)
        raise error

    async def release() -> None:
        calls["released"] += 1
        await original_release()

    client.start = start
    client.stop = client.close = release
    return calls


@pytest.mark.parametrize("client_class", [AIOKafkaProducer, AIOKafkaConsumer, AIOKafkaAdminClient])
def test_every_client_start_maps_a_scram_refusal_to_one_line(client_class):
    async def run() -> None:
        client = client_class(bootstrap_servers="127.0.0.1:1", **SASL)
        calls = failing_start(client, scram_error_reply("e=invalid-proof"))
        with pytest.raises(kafka.KafkaAuthenticationFailed) as refused:
            await kafka.start(client)
        message = str(refused.value)
        assert message == ("Kafka authentication failed for user 'desk' (SASL SCRAM-SHA-256): the broker answered "
                           "invalid-proof; check TANGGAP_KAFKA_USERNAME, TANGGAP_KAFKA_PASSWORD and "
                           "TANGGAP_KAFKA_SASL_MECHANISM")
        assert PASSWORD not in repr(refused.value)
        assert refused.value.__cause__ is None and refused.value.__suppress_context__
        assert calls["released"] == 1

    asyncio.run(run())


def test_a_refusal_only_logged_by_the_bootstrap_is_still_reported_as_authentication():
    async def run() -> None:
        client = AIOKafkaProducer(bootstrap_servers="127.0.0.1:1", **SASL)
        failing_start(client, KafkaConnectionError("Unable to bootstrap"),
                      logged=SaslAuthenticationFailed("invalid credentials"))
        with pytest.raises(kafka.KafkaAuthenticationFailed, match="user 'desk'.*invalid credentials"):
            await kafka.start(client)

    asyncio.run(run())


def test_an_unreachable_broker_stays_a_plain_broker_unavailable_and_a_bug_keeps_its_traceback():
    async def run() -> None:
        client = AIOKafkaProducer(bootstrap_servers="127.0.0.1:1", **SASL)
        failing_start(client, KafkaConnectionError("Unable to bootstrap"))
        with pytest.raises(kafka.BrokerUnavailable) as unavailable:
            await kafka.start(client)
        assert not isinstance(unavailable.value, kafka.KafkaAuthenticationFailed)
        failing_start(client, KeyError("not-scram"))
        with pytest.raises(KeyError, match="not-scram"):
            await kafka.start(client)

    asyncio.run(run())


def test_the_cli_prints_one_line_and_exits_2(monkeypatch, capsys):
    from streams import cli

    async def refused(settings, timeout: float = 15.0):
        raise kafka.KafkaAuthenticationFailed(authentication_failed_message("desk", "SCRAM-SHA-512", "x", PASSWORD))

    monkeypatch.setattr(cli, "create_topics", refused)
    monkeypatch.setenv("TANGGAP_KAFKA_PASSWORD", PASSWORD)
    assert cli.main(["--broker", "127.0.0.1:1", "topics"]) == cli.EXIT_USAGE
    out, err = capsys.readouterr()
    assert err.startswith("tanggap: Kafka authentication failed for user 'desk'") and err.count("\n") == 1
    assert PASSWORD not in out + err


def test_an_untrusted_broker_certificate_names_the_ca_setting():
    import ssl

    async def run() -> None:
        client = AIOKafkaProducer(bootstrap_servers="127.0.0.1:1", security_protocol="SSL",
                                  ssl_context=ssl.create_default_context())
        untrusted = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
        untrusted.verify_message = "self-signed certificate"
        failing_start(client, KafkaConnectionError("Unable to bootstrap"), logged=untrusted)
        with pytest.raises(kafka.BrokerUnavailable) as unavailable:
            await kafka.start(client)
        assert str(unavailable.value) == ("cannot reach Kafka: TLS: the broker's certificate is not trusted "
                                          "(self-signed certificate); check TANGGAP_KAFKA_CA_FILE")

    asyncio.run(run())
