"""`GcpIdToken` (`kind = "gcp_id_token"`): a Google-signed OpenID Connect ID token for one
audience (a Cloud Run service, an IAP-protected app, any service that checks Google ID
tokens), through google-auth.

    [tokens.REPORTS_TOKEN]
    kind = "gcp_id_token"
    audience = "https://reports-abc123-ew.a.run.app"
    # service_account_key = "GCP_SA_KEY"       # a secret holding a service-account key JSON
    # service_account_email = "reports-caller@my-project.iam.gserviceaccount.com"

| declared                  | minted by                                                     |
|---------------------------|---------------------------------------------------------------|
| audience only             | the environment's identity: `GOOGLE_APPLICATION_CREDENTIALS`  |
|                           | (a key file), else the metadata server (GCE, GKE, Cloud Run;  |
|                           | `GCE_METADATA_HOST` honoured)                                 |
| + `service_account_key`   | that key, at its token URI                                    |
| + `service_account_email` | IAM Credentials `generateIdToken`, impersonating it, with the |
|                           | key or the environment's credentials (which need Service      |
|                           | Account Token Creator on it)                                  |

The token's lifetime is its `exp` claim (an hour, at Google). google-auth's requests
transport is bounded by `timeout` per request; its metadata-server client retries on its
own before ours do.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from prefect_secrets._core import TYPE_CHECKING
from prefect_secrets._core.errors import SettingsError
from prefect_secrets._tokens.base import MintedToken, Table, Token, Transient

if TYPE_CHECKING:
    from collections.abc import Mapping
    from types import ModuleType
    from typing import Any, Self

    from prefect_secrets._tokens.base import SecretOf, Where

__all__ = ["CLOUD_PLATFORM", "GcpIdToken"]

CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"


@dataclass(frozen=True, repr=False)
class GcpIdToken(Token):
    """A Google ID token for `audience`. `service_account_key` is the name of a secret."""

    name: str
    audience: str
    service_account_key: str | None = None
    service_account_email: str | None = None

    kind = "gcp_id_token"
    pip_extra = "gcp"

    def __post_init__(self) -> None:
        self.check_name()
        if not self.audience:
            raise SettingsError(f"token {self.name!r}: needs an audience")
        email = self.service_account_email
        if email is not None and ("@" not in email or any(c.isspace() for c in email)):
            raise SettingsError(
                f"token {self.name!r}: service_account_email must be a service account's email"
            )

    @property
    def endpoint(self) -> str:
        if self.service_account_email:
            return f"IAM Credentials generateIdToken as {self.service_account_email}"
        if self.service_account_key:
            return f"Google's token endpoint, with the key {self.service_account_key!r}"
        return "Application Default Credentials or the metadata server"

    @classmethod
    def from_table(cls, name: str, table: Mapping[str, Any], where: Where) -> Self:
        reader = Table(name, table, where)
        audience = reader.text("audience", required=True)
        key = reader.secret_name("service_account_key")
        email = reader.text("service_account_email")
        reader.finish()
        try:
            return cls(name, audience or "", key, email)
        except SettingsError as exc:
            raise reader.bad(None, str(exc).split(": ", 1)[-1]) from None

    # --- minting -----------------------------------------------------------------------------

    def mint(self, secret_of: SecretOf, *, timeout: float = 5.0, retries: int = 2) -> MintedToken:
        transport = self.sdk("google.auth.transport.requests")
        exceptions = self.sdk("google.auth.exceptions")
        info = self._key_info(secret_of) if self.service_account_key else None
        request = _Bounded(transport.Request(), timeout)

        def attempt() -> MintedToken:
            try:
                value = self._fetch(request, info)
            except Exception as exc:  # noqa: BLE001 - every failure becomes ours
                raise self._failure(exc, exceptions) from None
            return self.expiring(value, None)  # an ID token's lifetime is its exp claim

        return self.retrying(attempt, retries)

    def _fetch(self, request: Any, info: dict[str, Any] | None) -> Any:
        service_account = self.sdk("google.oauth2.service_account")
        if self.service_account_email is None:
            if info is None:
                return self.sdk("google.oauth2.id_token").fetch_id_token(request, self.audience)
            credentials = service_account.IDTokenCredentials.from_service_account_info(
                info, target_audience=self.audience
            )
        else:
            impersonated = self.sdk("google.auth.impersonated_credentials")
            if info is None:
                source = self.sdk("google.auth").default(scopes=[CLOUD_PLATFORM])[0]
            else:
                source = service_account.Credentials.from_service_account_info(
                    info, scopes=[CLOUD_PLATFORM]
                )
            target = impersonated.Credentials(
                source_credentials=source,
                target_principal=self.service_account_email,
                target_scopes=[CLOUD_PLATFORM],
            )
            credentials = impersonated.IDTokenCredentials(
                target, target_audience=self.audience, include_email=True
            )
        credentials.refresh(request)
        return credentials.token

    def _key_info(self, secret_of: SecretOf) -> dict[str, Any]:
        assert self.service_account_key is not None
        stored = secret_of(self.service_account_key)
        try:
            info = json.loads(stored) if isinstance(stored, (str, bytes)) else stored
        except ValueError:
            info = None
        if not (
            isinstance(info, dict)
            and info.get("type") == "service_account"
            and {"client_email", "private_key", "token_uri"} <= set(info)
        ):
            raise self.error(
                f"the secret {self.service_account_key!r} (service_account_key) is not a "
                "service-account key JSON (type service_account)"
            )
        return dict(info)

    def _failure(self, exc: BaseException, exceptions: ModuleType) -> Exception:
        """Never google-auth's message: it may quote the response."""
        if isinstance(exc, exceptions.DefaultCredentialsError):
            return self.error(
                "no credentials: no GOOGLE_APPLICATION_CREDENTIALS and no metadata server "
                "(not on GCE, GKE or Cloud Run); or declare service_account_key"
            )
        if isinstance(exc, exceptions.TransportError):
            return Transient(f"unreachable ({type(exc).__name__})", unreachable=True)
        if isinstance(exc, exceptions.RefreshError):
            if getattr(exc, "retryable", False):
                return Transient("failed (RefreshError, a transient failure at Google)")
            who = self.service_account_email
            why = f": the caller may lack Service Account Token Creator on {who}" if who else ""
            return self.error(f"refused (RefreshError){why}")
        if isinstance(exc, (ValueError, KeyError)):
            return self.error(f"the credentials are not usable ({type(exc).__name__})")
        return self.error(f"failed ({type(exc).__name__})")


class _Bounded:
    """google-auth's request, each call within `timeout` seconds (its default is 120 s)."""

    def __init__(self, request: Any, timeout: float) -> None:
        self._request = request
        self._timeout = timeout

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: Any = None,
        headers: Any = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> Any:
        bounded = self._timeout if timeout is None else min(timeout, self._timeout)
        return self._request(
            url, method=method, body=body, headers=headers, timeout=bounded, **kwargs
        )
