"""`KubernetesServiceAccountToken` (`kind = "k8s_service_account_token"`): a short-lived,
audience-bound service-account token from the Kubernetes API's TokenRequest, through
lightkube.

    [tokens.VAULT_JWT]
    kind = "k8s_service_account_token"
    audiences = ["vault"]
    expiration_seconds = 3600            # the API's minimum is 600
    # service_account = "etl"            # default: the pod's own
    # namespace = "data"                 # default: the pod's own
    # token_file = "/var/run/secrets/tokens/vault-token"   # fallback when the API is unreachable

In a pod, lightkube talks to the API as the pod (`KUBERNETES_SERVICE_HOST`, and the
service-account directory `/var/run/secrets/kubernetes.io/serviceaccount`: its token,
`ca.crt` and `namespace`); elsewhere, with the kubeconfig (`KUBECONFIG`, `~/.kube/config`),
and `service_account` is then required. The caller needs `create` on
`serviceaccounts/token` for that service account.

When the API does not answer (unreachable or too slow, after the retries), the token is
read from `token_file` instead (default: the pod's own projected token, whose audience is
the API server's; a projected volume with the audiences needed is the better fallback),
if it has not expired. A refusal (401, 403, 404, 422) never falls back: that would hide
a configuration error.

`review()` checks a minted token with TokenReview (for `doctor`): authenticated, user,
audiences; never the token.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from prefect_secrets._core import TYPE_CHECKING
from prefect_secrets._core.errors import SecretSourceError, SettingsError
from prefect_secrets._tokens.base import MintedToken, Table, Token, Transient, jwt_expiry

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any, Self

    from prefect_secrets._tokens.base import SecretOf, Where

__all__ = ["MIN_EXPIRATION_SECONDS", "SERVICE_ACCOUNT_DIR", "KubernetesServiceAccountToken"]

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
#: The API refuses shorter lifetimes (422).
MIN_EXPIRATION_SECONDS = 600


@dataclass(frozen=True, repr=False)
class KubernetesServiceAccountToken(Token):
    """A TokenRequest token for `audiences` (empty: the API server's own audiences)."""

    name: str
    audiences: tuple[str, ...] = ()
    expiration_seconds: int = 3600
    service_account: str | None = None
    namespace: str | None = None
    token_file: str | None = None
    #: Where the pod's service-account token, CA and namespace are mounted.
    service_account_dir: str = SERVICE_ACCOUNT_DIR

    kind = "k8s_service_account_token"
    pip_extra = "kubernetes"

    def __post_init__(self) -> None:
        self.check_name()
        if isinstance(self.audiences, str):
            object.__setattr__(self, "audiences", (self.audiences,))
        elif isinstance(self.audiences, list):
            object.__setattr__(self, "audiences", tuple(self.audiences))
        if self.expiration_seconds < MIN_EXPIRATION_SECONDS:
            raise SettingsError(
                f"token {self.name!r}: expiration_seconds must be at least "
                f"{MIN_EXPIRATION_SECONDS} (the Kubernetes API refuses less)"
            )

    @property
    def endpoint(self) -> str:
        account = self.service_account or "the pod's service account"
        where = f"{self.namespace}/" if self.namespace else ""
        return f"Kubernetes TokenRequest for {where}{account}"

    @classmethod
    def from_table(cls, name: str, table: Mapping[str, Any], where: Where) -> Self:
        reader = Table(name, table, where)
        values = {
            "audiences": reader.texts("audiences"),
            "expiration_seconds": reader.seconds("expiration_seconds", 3600),
            "service_account": reader.text("service_account"),
            "namespace": reader.text("namespace"),
            "token_file": reader.text("token_file"),
            "service_account_dir": reader.text("service_account_dir") or SERVICE_ACCOUNT_DIR,
        }
        reader.finish()
        try:
            return cls(name, **values)  # type: ignore[arg-type]
        except SettingsError as exc:
            key = "expiration_seconds" if "expiration_seconds" in str(exc) else None
            raise reader.bad(key, str(exc).split(": ", 1)[-1].removeprefix(f"{key} ")) from None

    # --- minting -----------------------------------------------------------------------------

    def mint(self, secret_of: SecretOf, *, timeout: float = 5.0, retries: int = 2) -> MintedToken:
        self.sdk("lightkube")  # the missing-extra error before anything else

        def attempt() -> MintedToken:
            client, namespace, account = self._client(timeout)
            models = self.sdk("lightkube.models.authentication_v1")
            meta = self.sdk("lightkube.models.meta_v1")
            resources = self.sdk("lightkube.resources.core_v1")
            spec = models.TokenRequestSpec(
                audiences=list(self.audiences), expirationSeconds=self.expiration_seconds
            )
            try:
                with client:
                    # lightkube needs metadata=ObjectMeta(): with None it fails on .namespace.
                    answer = client.create(
                        resources.ServiceAccount.Token(metadata=meta.ObjectMeta(), spec=spec),
                        name=account,
                        namespace=namespace,
                    )
            except Exception as exc:  # noqa: BLE001 - every failure becomes ours
                raise self._failure(exc, timeout) from None
            status = answer.status
            expires = status.expirationTimestamp if status is not None else None
            return self.expiring(
                status.token if status is not None else None,
                expires.timestamp() if expires is not None else None,
            )

        return self.retrying(attempt, retries, fallback=self._from_file)

    def review(self, minted: MintedToken, *, timeout: float = 5.0) -> dict[str, Any]:
        """TokenReview of `minted`: {"authenticated", "user", "audiences"} (never the token)."""
        client = self._client(timeout)[0]
        models = self.sdk("lightkube.models.authentication_v1")
        resources = self.sdk("lightkube.resources.authentication_v1")
        spec = models.TokenReviewSpec(token=minted.value, audiences=list(self.audiences) or None)
        try:
            with client:
                answer = client.create(resources.TokenReview(spec=spec))
        except Exception as exc:  # noqa: BLE001 - every failure becomes ours
            failure = self._failure(exc, timeout)
            raise (
                self.error(failure.reason) if isinstance(failure, Transient) else failure
            ) from None
        status = answer.status
        user = status.user.username if status is not None and status.user is not None else None
        return {
            "authenticated": bool(status is not None and status.authenticated),
            "user": user,
            "audiences": list(status.audiences or []) if status is not None else [],
        }

    def _client(self, timeout: float) -> tuple[Any, str, str]:
        """(lightkube Client, namespace, service account): in a pod, as the pod."""
        lightkube = self.sdk("lightkube")
        httpx = self.sdk("httpx2") if _has("httpx2") else self.sdk("httpx")
        directory = Path(self.service_account_dir)
        try:
            if _in_cluster():
                config = lightkube.KubeConfig.from_service_account(service_account=directory)
            else:
                config = lightkube.KubeConfig.from_env(service_account=directory)
            client = lightkube.Client(config, timeout=httpx.Timeout(timeout))
        except Exception as exc:  # noqa: BLE001 - no pod, no kubeconfig, or a broken one
            raise self.error(
                f"no Kubernetes API configuration ({type(exc).__name__}): not in a pod "
                "(KUBERNETES_SERVICE_HOST) and no usable kubeconfig (KUBECONFIG, ~/.kube/config)"
            ) from None
        namespace = self.namespace or _read(directory / "namespace") or client.namespace
        account = self.service_account or _own_service_account(directory / "token")
        if not account:
            raise SettingsError(
                f"token {self.name!r}: not in a pod ({directory / 'token'} names no service "
                "account): declare service_account"
            )
        return client, namespace, account

    def _failure(self, exc: BaseException, timeout: float) -> Exception:
        """Never the API's message text: only its status code and reason."""
        if isinstance(exc, (SecretSourceError, SettingsError)):
            return exc
        status = getattr(getattr(exc, "status", None), "code", None)
        if status is None:
            status = getattr(getattr(exc, "response", None), "status_code", None)
        if isinstance(status, int):
            reason = getattr(getattr(exc, "status", None), "reason", None) or ""
            said = f"HTTP {status} {reason}".strip()
            if status == 429 or status >= 500:
                return Transient(f"failed ({said})")
            hint = {
                401: ": the caller's credentials were rejected",
                403: ": the caller may not create tokens for this service account (RBAC)",
                404: ": no such service account or namespace",
                422: ": the request was invalid (audiences, expiration_seconds)",
            }.get(status, "")
            return self.error(f"refused ({said}){hint}")
        names = {cls.__name__ for cls in type(exc).__mro__}
        if any("Timeout" in name for name in names):
            return Transient(f"no answer within {timeout:g} s", unreachable=True)
        if names & {"TransportError", "ConnectError", "NetworkError"} or isinstance(exc, OSError):
            return Transient(f"unreachable ({type(exc).__name__})", unreachable=True)
        return self.error(f"failed ({type(exc).__name__})")

    def _from_file(self, failure: SecretSourceError) -> MintedToken:
        """The API did not answer: the projected token file, if it holds a live token."""
        path = Path(self.token_file or Path(self.service_account_dir) / "token")
        value = _read(path)
        expires_at = jwt_expiry(value) if value else None
        if value and expires_at is not None and expires_at > time.time() + 1:
            return MintedToken(value, expires_at)
        why = "has expired" if value else "cannot be read"
        raise SecretSourceError(
            f"{failure}; the fallback token file {path} {why}", source="tokens", place=str(path)
        ) from None


def _in_cluster() -> bool:
    import os

    return bool(os.environ.get("KUBERNETES_SERVICE_HOST"))


def _has(module: str) -> bool:
    from importlib.util import find_spec

    return find_spec(module) is not None


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return ""


def _own_service_account(token_path: Path) -> str | None:
    """The service account a pod's token names (`system:serviceaccount:<ns>:<name>`)."""
    import base64
    import json

    parts = _read(token_path).split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        subject = str(claims.get("sub", ""))
    except (ValueError, AttributeError):
        return None
    prefix = "system:serviceaccount:"
    return subject.rpartition(":")[2] or None if subject.startswith(prefix) else None
