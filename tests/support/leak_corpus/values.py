"""Fake secret values of realistic shapes, new for every run, and what a scan looks for.

Every value is obviously fake (`.invalid` hosts, `fake` in e-mails) but has the
shape of the real thing, so that Prefect and Python treat it as they would a
real one: quotes and backslashes get escaped, a PEM key spans lines, a JWT is
long enough for pydantic to truncate it, a service account is a dict.

Values never go to stdout: the harness hands them to the flow process through
its environment (or Prefect `Secret` blocks) and compares SHA-256 digests.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import string
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DB_USER", "SHAPES", "Value", "canonical_digest", "make_value"]

#: The user name that goes with every password (DSNs, `Authorization: Basic`).
DB_USER = "etl_loader"

_ALNUM = string.ascii_letters + string.digits
_B32 = string.ascii_uppercase + "234567"
_B64 = string.ascii_letters + string.digits + "+/"


def _rand(alphabet: str, n: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(repr=False)
class Value:
    """One secret: what the flow receives (`value`), how it is stored (`text`), and
    the strings whose appearance anywhere is a leak (`sensitive`)."""

    shape: str
    value: Any
    text: str  # what an env var or a Secret block holds
    sensitive: list[str] = field(default_factory=list)
    user: str | None = None  # paired user name, for base64("user:password")

    @property
    def digest(self) -> str:
        return canonical_digest(self.value)

    def __repr__(self) -> str:
        # Never the value: test failures and tracebacks print reprs.
        return f"<Value {self.shape} sha256:{self.digest[:12]}>"


def canonical_digest(value: Any) -> str:
    """SHA-256 of a value as flows compare it (dicts by their sorted JSON)."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _password() -> Value:
    # Every character that gets escaped somewhere: ' " \ and a non-ASCII letter.
    parts = [_rand(_ALNUM, 5) for _ in range(5)]
    value = f"{parts[0]}'{parts[1]}\"{parts[2]}\\{parts[3]}é{parts[4]}"
    return Value("password", value, value, [value], user=DB_USER)


def _pem() -> Value:
    body = [_rand(_B64, 64) for _ in range(18)] + [_rand(_B64, 40) + "=="]
    value = "\n".join(["-----BEGIN PRIVATE KEY-----", *body, "-----END PRIVATE KEY-----"])
    return Value("pem", value, value, [value])


def _jwt() -> Value:
    header = {"kid": _rand(_ALNUM, 16), "alg": "HS256", "typ": "JWT"}
    payload = {
        "sub": f"svc-{_rand(_ALNUM, 12)}",
        "jti": _rand(_ALNUM, 24),
        "iss": "https://auth.example.invalid",
        "exp": 4102444800,
    }
    value = ".".join(
        (
            _b64url(json.dumps(header, separators=(",", ":")).encode()),
            _b64url(json.dumps(payload, separators=(",", ":")).encode()),
            _b64url(secrets.token_bytes(32)),
        )
    )
    return Value("jwt", value, value, [value])


def _service_account() -> Value:
    pem = _pem().value + "\n"
    project = f"etl-fake-{_rand(string.ascii_lowercase + string.digits, 6)}"
    value = {
        "type": "service_account",
        "project_id": project,
        "private_key_id": secrets.token_hex(20),
        "private_key": pem,
        "client_email": f"loader@{project}.iam.example.invalid",
        "client_id": _rand(string.digits, 21),
        "token_uri": "https://oauth2.example.invalid/token",
    }
    return Value(
        "service_account",
        value,
        json.dumps(value),
        [value["private_key"], value["private_key_id"]],
    )


def _aws_key_id() -> Value:
    value = "AKIA" + _rand(_B32, 16)
    return Value("aws_key_id", value, value, [value])


def _aws_secret() -> Value:
    value = _rand(_B64, 40)
    return Value("aws_secret", value, value, [value])


def _api_key() -> Value:
    value = "sk_fake_" + _rand(_ALNUM, 32)
    return Value("api_key", value, value, [value])


SHAPES = {
    "api_key": _api_key,
    "password": _password,
    "pem": _pem,
    "jwt": _jwt,
    "service_account": _service_account,
    "aws_key_id": _aws_key_id,
    "aws_secret": _aws_secret,
}


def make_value(shape: str) -> Value:
    return SHAPES[shape]()
