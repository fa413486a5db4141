"""`OAuth2ClientCredentials` (`kind = "oauth2_client_credentials"`): an access token from an
OAuth 2.0 authorization server's client-credentials grant, through authlib's httpx client.

    [tokens.CRM_TOKEN]
    kind = "oauth2_client_credentials"
    issuer = "https://login.example.com"   # or token_endpoint = "https://.../oauth2/token"
    client_id = "etl-flows"
    client_secret = "CRM_CLIENT_SECRET"    # the NAME of the secret holding it
    scope = "crm.read crm.write"           # or a list
    audience = "https://crm.example.com"   # optional; `extra = { resource = "..." }` for more
    auth_method = "client_secret_basic"    # or client_secret_post, private_key_jwt
    # private_key = "CRM_SIGNING_KEY"      # private_key_jwt: the secret holding a PEM or JWK

With `issuer`, the token endpoint comes from `<issuer>/.well-known/openid-configuration`
(read once per process and issuer, its `issuer` checked). A token without `expires_in` is
read for its JWT `exp`; one with neither is refused.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from prefect_secrets._core import TYPE_CHECKING
from prefect_secrets._core.errors import SettingsError
from prefect_secrets._tokens.base import MintedToken, Table, Token, Transient

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any, Self

    from prefect_secrets._tokens.base import SecretOf, Where

__all__ = ["AUTH_METHODS", "OAuth2ClientCredentials"]

AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt")
# OAuth error codes that say the request itself is wrong: asking again cannot help.
_TRANSIENT_ERRORS = frozenset({"temporarily_unavailable", "server_error", "slow_down"})
_DISCOVERY_TTL = 3600.0
#: issuer -> (token endpoint, when read); one discovery per issuer and hour, per process.
_discovered: dict[tuple[str, str | None], tuple[str, float]] = {}


@dataclass(frozen=True, repr=False)
class OAuth2ClientCredentials(Token):
    """An OAuth 2.0 client-credentials token. `client_secret` and `private_key` are the
    names of secrets, resolved when minting."""

    name: str
    client_id: str
    client_secret: str | None = None
    token_endpoint: str | None = None
    issuer: str | None = None
    scope: tuple[str, ...] = ()
    audience: str | None = None
    extra: tuple[tuple[str, str], ...] = ()
    auth_method: str = "client_secret_basic"
    private_key: str | None = None
    #: private_key_jwt's signing algorithm; default RS256 (ES256 for an EC key, EdDSA for OKP).
    signing_alg: str | None = None
    #: A CA bundle to trust for a private authorization server (default: the system's).
    ca_file: str | None = None

    kind = "oauth2_client_credentials"
    pip_extra = "oauth2"

    def __post_init__(self) -> None:
        self.check_name()
        if isinstance(self.scope, str):
            object.__setattr__(self, "scope", tuple(self.scope.split()))
        if isinstance(self.extra, dict):
            object.__setattr__(
                self, "extra", tuple((str(k), str(v)) for k, v in self.extra.items())
            )
        if not self.client_id:
            raise SettingsError(f"token {self.name!r}: needs a client_id")
        if (self.token_endpoint is None) == (self.issuer is None):
            raise SettingsError(
                f"token {self.name!r}: needs either token_endpoint or issuer (discovery), not both"
            )
        if self.auth_method not in AUTH_METHODS:
            raise SettingsError(
                f"token {self.name!r}: auth_method must be one of {', '.join(AUTH_METHODS)}"
            )
        needed = "private_key" if self.auth_method == "private_key_jwt" else "client_secret"
        if getattr(self, needed) is None:
            raise SettingsError(
                f"token {self.name!r}: auth_method {self.auth_method} needs {needed} "
                "(the name of the secret that holds it)"
            )

    @property
    def endpoint(self) -> str:
        return self.token_endpoint or f"issuer {self.issuer}"

    @classmethod
    def from_table(cls, name: str, table: Mapping[str, Any], where: Where) -> Self:
        reader = Table(name, table, where)
        values = {
            "client_id": reader.text("client_id", required=True),
            "client_secret": reader.secret_name("client_secret"),
            "token_endpoint": reader.text("token_endpoint"),
            "issuer": reader.text("issuer"),
            "scope": reader.texts("scope"),
            "audience": reader.text("audience"),
            "extra": reader.params("extra"),
            "auth_method": reader.choice("auth_method", AUTH_METHODS, "client_secret_basic"),
            "private_key": reader.secret_name("private_key"),
            "signing_alg": reader.text("signing_alg"),
            "ca_file": reader.text("ca_file"),
        }
        reader.finish()
        try:
            return cls(name, **values)  # type: ignore[arg-type]
        except SettingsError as exc:
            raise reader.bad(None, str(exc).split(": ", 1)[-1]) from None

    # --- minting -----------------------------------------------------------------------------

    def mint(self, secret_of: SecretOf, *, timeout: float = 5.0, retries: int = 2) -> MintedToken:
        httpx_client = self.sdk("authlib.integrations.httpx_client")
        credential = self._credential(secret_of)
        endpoint = self.token_endpoint or self._discover(httpx_client, timeout, retries)
        method: Any = self.auth_method
        if method == "private_key_jwt":
            method = self.sdk("authlib.oauth2.rfc7523").PrivateKeyJWT(
                endpoint, alg=self.signing_alg or _default_alg(credential)
            )
        params = dict(self.extra)
        if self.audience:
            params["audience"] = self.audience

        def attempt() -> MintedToken:
            with self._client(httpx_client, timeout, credential, method) as client:
                try:
                    answer = client.fetch_token(endpoint, grant_type="client_credentials", **params)
                except Exception as exc:  # noqa: BLE001 - every failure becomes ours
                    raise self._failure(exc, timeout) from None
            expires_in = answer.get("expires_in")
            expires_at = None
            if isinstance(expires_in, (int, float)) and not isinstance(expires_in, bool):
                expires_at = time.time() + float(expires_in)
            return self.expiring(answer.get("access_token"), expires_at)

        return self.retrying(attempt, retries)

    def _client(self, httpx_client: Any, timeout: float, credential: Any, method: Any) -> Any:
        return httpx_client.OAuth2Client(
            self.client_id,
            credential,
            token_endpoint_auth_method=method,
            scope=" ".join(self.scope) or None,
            timeout=timeout,
            verify=self.ca_file or True,
            trust_env=True,
        )

    def _credential(self, secret_of: SecretOf) -> Any:
        """The client secret, or the private key (a joserfc key) for private_key_jwt."""
        if self.auth_method != "private_key_jwt":
            assert self.client_secret is not None  # checked by __post_init__
            return self.secret_text(secret_of, self.client_secret, "client_secret")
        assert self.private_key is not None
        stored = secret_of(self.private_key)
        jwk = self.sdk("joserfc.jwk")
        try:
            data = json.loads(stored) if isinstance(stored, str) and stored[:1] == "{" else stored
            if isinstance(data, dict):
                return jwk.import_key(data)
            for key_type in (jwk.RSAKey, jwk.ECKey, jwk.OKPKey):
                try:
                    return key_type.import_key(data)
                except Exception:  # noqa: BLE001 - try the next key type
                    continue
        except Exception:  # noqa: BLE001 - the library's message could quote the key
            pass
        raise self.error(
            f"the secret {self.private_key!r} (private_key) is not a private key (PEM or JWK)"
        )

    def _discover(self, httpx_client: Any, timeout: float, retries: int) -> str:
        assert self.issuer is not None
        issuer = self.issuer.rstrip("/")
        found = _discovered.get((issuer, self.ca_file))
        if found is not None and time.monotonic() - found[1] < _DISCOVERY_TTL:
            return found[0]
        url = f"{issuer}/.well-known/openid-configuration"

        def attempt() -> str:
            with self._client(httpx_client, timeout, None, "none") as client:
                try:
                    response = client.request("GET", url, withhold_token=True)
                    response.raise_for_status()
                    document = response.json()
                except Exception as exc:  # noqa: BLE001 - every failure becomes ours
                    raise self._failure(exc, timeout, what="discovery") from None
            endpoint = document.get("token_endpoint") if isinstance(document, dict) else None
            if str(document.get("issuer", "")).rstrip("/") != issuer:
                raise self.error(f"{url} names another issuer: refused (OpenID discovery)")
            if not isinstance(endpoint, str) or not endpoint.startswith(("https://", "http://")):
                raise self.error(f"{url} names no token_endpoint")
            return endpoint

        endpoint = self.retrying(attempt, retries)
        _discovered[(issuer, self.ca_file)] = (endpoint, time.monotonic())
        return endpoint

    def _failure(
        self, exc: BaseException, timeout: float, what: str = "the token request"
    ) -> Exception:
        """A transient failure to retry, or our final error: never the library's message
        (it may quote the response), only status codes, OAuth error codes and type names."""
        names = {cls.__name__ for cls in type(exc).__mro__}
        error = getattr(exc, "error", None)
        if isinstance(error, str) and "OAuthError" in names:
            if error in _TRANSIENT_ERRORS:
                return Transient(f"{what} failed ({error})")
            hint = ""
            if error in ("invalid_client", "unauthorized_client"):
                secret = self.client_secret or self.private_key
                hint = f": check client_id {self.client_id!r} and the secret {secret!r}"
            return self.error(f"{what} was refused ({error}){hint}")
        response = getattr(exc, "response", None)
        status = getattr(response, "status_code", None)
        if isinstance(status, int):
            if status == 429 or status >= 500:
                return Transient(f"{what} failed (HTTP {status})")
            return self.error(f"{what} was refused (HTTP {status})")
        if any("Timeout" in name for name in names):
            return Transient(f"no answer within {timeout:g} s", unreachable=True)
        if names & {"TransportError", "ConnectError", "NetworkError"} or isinstance(exc, OSError):
            return Transient(f"unreachable ({type(exc).__name__})", unreachable=True)
        if isinstance(exc, ValueError):
            return self.error(f"{what} got an answer that is not an OAuth 2.0 JSON response")
        return self.error(f"{what} failed ({type(exc).__name__})")


def _default_alg(key: Any) -> str:
    return {"EC": "ES256", "OKP": "EdDSA"}.get(str(getattr(key, "key_type", "")), "RS256")
