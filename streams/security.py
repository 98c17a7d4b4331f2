"""Kafka client security (TLS, SASL) from settings, for the faust workers and the tool clients.

One description, two consumers: `faust_options` feeds `faust.App(broker_credentials=...)`,
`aiokafka_options` feeds the plain aiokafka clients of `streams.kafka`, so the workers and the
tools (topics, replay, tail, alert bridge) always talk to the cluster the same way.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import Any

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


class SecurityError(Exception):
    """Inconsistent security settings; the message names the variable and never a secret."""


@dataclass(frozen=True)
class KafkaSecurity:
    protocol: str = "PLAINTEXT"
    sasl_mechanism: str = "SCRAM-SHA-512"
    username: str = ""
    password: str = field(default="", repr=False)
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    key_password: str = field(default="", repr=False)

    @property
    def uses_tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @property
    def uses_sasl(self) -> bool:
        return self.protocol in ("SASL_PLAINTEXT", "SASL_SSL")

    def validate(self) -> KafkaSecurity:
        if self.protocol not in PROTOCOLS:
            raise SecurityError(f"TANGGAP_KAFKA_SECURITY_PROTOCOL={self.protocol!r}: use one of {', '.join(PROTOCOLS)}")
        if self.uses_sasl:
            if self.sasl_mechanism not in SASL_MECHANISMS:
                raise SecurityError(f"TANGGAP_KAFKA_SASL_MECHANISM={self.sasl_mechanism!r}: use one of "
                                    f"{', '.join(SASL_MECHANISMS)}")
            if not self.username or not self.password:
                raise SecurityError(f"TANGGAP_KAFKA_SECURITY_PROTOCOL={self.protocol} needs TANGGAP_KAFKA_USERNAME "
                                    "and TANGGAP_KAFKA_PASSWORD")
        if bool(self.cert_file) != bool(self.key_file):
            raise SecurityError("TANGGAP_KAFKA_CERT_FILE and TANGGAP_KAFKA_KEY_FILE go together (client certificate)")
        if (self.ca_file or self.cert_file) and not self.uses_tls:
            raise SecurityError(f"TANGGAP_KAFKA_CA_FILE/CERT_FILE are set but TANGGAP_KAFKA_SECURITY_PROTOCOL="
                                f"{self.protocol} does not use TLS: use SSL or SASL_SSL")
        return self

    def ssl_context(self) -> ssl.SSLContext | None:
        """Verifying context (hostname and chain); the CA file adds a private CA to the trust store."""
        if not self.uses_tls:
            return None
        try:
            context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.ca_file or None)
            if self.cert_file:
                context.load_cert_chain(self.cert_file, self.key_file, password=self.key_password or None)
        except (OSError, ssl.SSLError) as exc:
            # The exception text names files, never the key password.
            raise SecurityError(f"TLS files: {type(exc).__name__}: {getattr(exc, 'strerror', None) or exc}") from None
        return context

    def faust_options(self) -> dict[str, Any]:
        """`faust.App` keyword arguments; empty for PLAINTEXT."""
        import faust

        context = self.ssl_context()
        if self.uses_sasl:
            return {"broker_credentials": faust.SASLCredentials(
                username=self.username, password=self.password, mechanism=self.sasl_mechanism,
                ssl_context=context)}
        if context is not None:
            return {"broker_credentials": faust.SSLCredentials(context)}
        return {}

    def aiokafka_options(self) -> dict[str, Any]:
        """Keyword arguments of AIOKafkaProducer, AIOKafkaConsumer and AIOKafkaAdminClient."""
        options: dict[str, Any] = {"security_protocol": self.protocol}
        context = self.ssl_context()
        if context is not None:
            options["ssl_context"] = context
        if self.uses_sasl:
            options.update(sasl_mechanism=self.sasl_mechanism, sasl_plain_username=self.username,
                           sasl_plain_password=self.password)
        return options


# RFC 5802 server-error values: a fixed vocabulary, so it is safe to repeat in a message.
SCRAM_SERVER_ERRORS = frozenset({
    "invalid-encoding", "extensions-not-supported", "invalid-proof", "channel-bindings-dont-match",
    "server-does-support-channel-binding", "channel-binding-not-supported", "unsupported-channel-binding-type",
    "unknown-user", "invalid-username-encoding", "no-resources", "other-error",
})
_SCRAM_STEPS = frozenset({"process_server_first_message", "process_server_final_message", "authenticator_scram"})


def _raised_in_scram_exchange(exc: BaseException) -> dict[str, str] | None:
    """The server's SCRAM reply (its `key=value` attributes) when `exc` was raised while aiokafka
    read it, else None. aiokafka 0.14 expects a signature (`v=`) and fails with a bare KeyError
    (or ValueError) when a broker answers a wrong password with `e=invalid-proof` instead."""
    reply: dict[str, str] | None = None
    traceback = exc.__traceback__
    while traceback is not None:  # outermost first: the parsing step, with `params`, is innermost
        frame = traceback.tb_frame
        if frame.f_code.co_name in _SCRAM_STEPS and "aiokafka" in frame.f_code.co_filename:
            params = frame.f_locals.get("params")
            reply = params if isinstance(params, dict) else (reply or {})
        traceback = traceback.tb_next
    return reply


def authentication_refusal(error: BaseException) -> str | None:
    """Why the cluster refused our SASL credentials, when `error` says it did; None for any other
    error. The reason is a broker message or a SCRAM error code, never the password."""
    from aiokafka import errors

    if isinstance(error, (errors.SaslAuthenticationFailed, errors.AuthenticationFailedError,
                          errors.IllegalSaslStateError)):
        return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    if isinstance(error, (errors.UnsupportedSaslMechanismError, errors.AuthenticationMethodNotSupported)):
        return "the broker does not offer this mechanism"
    if isinstance(error, (KeyError, ValueError)):
        scram_reply = _raised_in_scram_exchange(error)
        if scram_reply is None:
            return None
        code = scram_reply.get("e")
        if code in SCRAM_SERVER_ERRORS:
            return f"the broker answered {code}"
        return "the broker refused the SCRAM exchange"
    return None


def tls_refusal(error: BaseException) -> str | None:
    """Why the TLS handshake with the broker failed, when `error` is such a failure; None otherwise.
    Certificate details only: the key password never reaches an SSLError."""
    if isinstance(error, ssl.SSLCertVerificationError):
        return (f"TLS: the broker's certificate is not trusted ({error.verify_message or error.reason}); check "
                "TANGGAP_KAFKA_CA_FILE")
    if isinstance(error, ssl.SSLError):
        return (f"TLS handshake failed ({error.reason or type(error).__name__}); check "
                "TANGGAP_KAFKA_SECURITY_PROTOCOL, TANGGAP_KAFKA_CA_FILE and TANGGAP_KAFKA_CERT_FILE")
    return None


def authentication_failed_message(username: str, mechanism: str, reason: str, password: str = "") -> str:
    """One line for the operator; `password`, when given, is masked should a broker ever echo it."""
    who = f"user {username!r}" if username else "the configured user"
    message = (f"Kafka authentication failed for {who} (SASL {mechanism or '?'}): {reason}; check "
               "TANGGAP_KAFKA_USERNAME, TANGGAP_KAFKA_PASSWORD and TANGGAP_KAFKA_SASL_MECHANISM")
    return message.replace(password, "***") if password else message


def from_settings(settings: Any) -> KafkaSecurity:
    """The security of a `Settings` (already validated by Settings.from_env)."""
    return getattr(settings, "kafka_security", None) or KafkaSecurity()
