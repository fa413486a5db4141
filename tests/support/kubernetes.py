"""A Kubernetes API server for tests: TokenRequest and TokenReview over HTTPS, on a local socket.

No real kube-apiserver can run here, so this implements the few endpoints a pod uses to get
short-lived service-account tokens, with the API's own JSON schema, status codes and error
`Status` objects:

* `POST /api/v1/namespaces/{ns}/serviceaccounts/{name}/token` -- authentication.k8s.io/v1
  `TokenRequest` (`spec.audiences`, `spec.expirationSeconds`, `spec.boundObjectRef`) ->
  201 with `status.token` (an RS256 JWT with Kubernetes' claims) and
  `status.expirationTimestamp`;
* `POST /apis/authentication.k8s.io/v1/tokenreviews` -- `TokenReview` -> 201 with
  `status.authenticated`, `status.user` {username, uid, groups, extra}, `status.audiences`,
  `status.error`;
* `GET /api/v1/namespaces/{ns}/serviceaccounts/{name}`, `GET /version`, and the service
  account issuer discovery documents `/.well-known/openid-configuration` + `/openid/v1/jwks`.

How a test points lightkube at it, as a pod would be::

    from lightkube import Client, KubeConfig
    from lightkube.models.authentication_v1 import TokenRequestSpec
    from lightkube.models.meta_v1 import ObjectMeta
    from lightkube.resources.core_v1 import ServiceAccount

    with KubernetesApiServer() as k8s:
        sa_dir = k8s.write_service_account_dir(tmp_path / "serviceaccount")
        for name, value in k8s.in_cluster_environment().items():  # KUBERNETES_SERVICE_HOST/PORT
            monkeypatch.setenv(name, value)
        client = Client(KubeConfig.from_service_account(service_account=sa_dir))
        request = client.create(
            # lightkube 1.0.1 needs metadata=ObjectMeta() here: with None it raises
            # AttributeError ('NoneType' object has no attribute 'namespace').
            ServiceAccount.Token(
                metadata=ObjectMeta(), spec=TokenRequestSpec(audiences=["fake-vault"])
            ),
            name=k8s.service_account,
            namespace=k8s.namespace,
        )
        claims = k8s.verify(request.status.token, audience="fake-vault")

The caller authenticates with the bearer token from `token` (the server minted it at start,
bound to the pod `k8s.pod`); RBAC is an allow-list (`allow()`): by default the pod's
service account may create tokens for itself, get itself and create TokenReviews.

Faithful: URL layout, request/response JSON (apiVersion/kind/metadata/spec/status, with
`boundObjectRef: null` as the API serialises it), 201 on create, token claims (`iss`, `aud`,
`exp`, `iat`, `nbf`, `jti`, `sub` = `system:serviceaccount:<ns>:<name>`, `kubernetes.io`
{namespace, serviceaccount {name, uid}, pod/node/secret {name, uid} when bound}, header
`kid` = SHA-256 of the public key), the order of checks (401 -> 403 -> 404 -> 422 ->
bound object 404/400/409), validation messages (`TokenRequest.authentication.k8s.io ""
is invalid: spec.expirationSeconds: Invalid value: 60: may not specify a duration less than
10 minutes`, 422 `Invalid`), `--service-account-max-token-expiration` (shortened, with a
`Warning` header), TokenReview semantics (audience intersection, defaults to the API
audiences, service account / bound pod must still exist with the same uid), 60 s leeway on
`exp` like go-jose, and the kubelet's atomic-writer layout for projected files (`..data`
symlink swap).

Simplified: an allow-list instead of RBAC objects; only service accounts, pods (with their
node) and secrets exist, created through this Python API; no `--service-account-extend-
token-expiration`; TokenReview errors are close to but not byte-for-byte the apiserver's;
the discovery documents are served without authentication.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import os
import re
import secrets
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt as pyjwt
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.tls import Handler, HttpRequest, HttpResponse, LocalServer, make_ca

DEFAULT_ISSUER = "https://kubernetes.default.svc.cluster.local"
AUTHENTICATION_V1 = "authentication.k8s.io/v1"
#: What the kubelet requests for the kube-api-access projected token.
KUBELET_TOKEN_SECONDS = 3607
MIN_EXPIRATION_SECONDS = 600
MAX_EXPIRATION_SECONDS = 1 << 32

_TOKEN_PATH = re.compile(
    r"^/api/v1/namespaces/(?P<ns>[^/]+)/serviceaccounts/(?P<name>[^/]+)/token$"
)
_SA_PATH = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/serviceaccounts/(?P<name>[^/]+)$")
TOKEN_REVIEW_PATH = "/apis/authentication.k8s.io/v1/tokenreviews"

# Endpoint names (keys of `KubernetesApiServer.requests`).
TOKEN_REQUEST_ENDPOINT = "tokenrequest"
TOKEN_REVIEW_ENDPOINT = "tokenreview"
SERVICE_ACCOUNT_ENDPOINT = "serviceaccount"
VERSION_ENDPOINT = "version"
DISCOVERY_ENDPOINT = "openid-configuration"
JWKS_ENDPOINT = "jwks"


def _timestamp(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(int(seconds), datetime.UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


def service_account_username(namespace: str, name: str) -> str:
    return f"system:serviceaccount:{namespace}:{name}"


@dataclass
class _Object:
    namespace: str
    name: str
    uid: str = field(default_factory=lambda: str(uuid.uuid4()))
    created: float = field(default_factory=time.time)
    #: For pods: the service account it runs as, and its node.
    service_account: str | None = None
    node: str | None = None


@dataclass(frozen=True)
class Rule:
    """Allow `user` to `verb` `resource` (in `namespace`, on `name`; None = any)."""

    user: str
    verb: str
    resource: str
    namespace: str | None = None
    name: str | None = None


class ApiError(Exception):
    """A Kubernetes `Status` failure, raised inside handlers and turned into the response."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        details: dict[str, Any] | None = None,
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message
        self.details = details
        self.headers = list(headers)

    def response(self) -> HttpResponse:
        return status_response(self.code, self.reason, self.message, self.details, self.headers)


def status_response(
    code: int,
    reason: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: Iterable[tuple[str, str]] = (),
) -> HttpResponse:
    """A `Status` object as the apiserver sends it (Content-Type exactly application/json,
    which lightkube requires to raise `ApiError` rather than a bare HTTPStatusError)."""
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
    }
    if details is not None:
        body["details"] = details
    body["code"] = code
    return HttpResponse.json(code, body, headers)


def _not_found(kind: str, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{kind} "{name}" not found', {"name": name, "kind": kind})


def _invalid(
    kind_group: str, kind: str, name: str, field_path: str, value: Any, why: str
) -> ApiError:
    detail = f"Invalid value: {json.dumps(value)}: {why}"
    return ApiError(
        422,
        "Invalid",
        f'{kind}.{kind_group} "{name}" is invalid: {field_path}: {detail}',
        {
            "name": name,
            "group": kind_group,
            "kind": kind,
            "causes": [{"reason": "FieldValueInvalid", "message": detail, "field": field_path}],
        },
    )


def write_atomic_volume(directory: Path, files: Mapping[str, bytes], mode: int = 0o644) -> Path:
    """Write `files` into `directory` the way the kubelet's AtomicWriter updates a projected
    volume: the files go into a fresh `..<timestamp>` directory, `..data` is swapped to point
    at it with a rename (atomic), each visible name is a symlink through `..data`, and the
    previous timestamped directory is removed. Readers never see a half-written file."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y_%m_%d_%H_%M_%S")
    payload = directory / f"..{stamp}.{secrets.randbelow(10**9):09d}"
    payload.mkdir()
    for name, content in files.items():
        target = payload / name
        target.write_bytes(content)
        target.chmod(mode)
    data, data_tmp = directory / "..data", directory / "..data_tmp"
    previous = os.readlink(data) if data.is_symlink() else None
    if data_tmp.is_symlink():
        data_tmp.unlink()
    data_tmp.symlink_to(payload.name)
    data_tmp.replace(data)
    for name in files:
        link = directory / name
        if not link.is_symlink():
            link.symlink_to(f"..data/{name}")
    if previous is not None and previous != payload.name:
        old = directory / previous
        for child in old.iterdir():
            child.unlink()
        old.rmdir()
    return directory


@dataclass
class ProjectedTokenFile:
    """A projected service-account token the kubelet keeps fresh; `rotate()` re-mints it."""

    server: KubernetesApiServer
    directory: Path
    filename: str
    namespace: str
    service_account: str
    audiences: list[str]
    expiration_seconds: int
    pod: str | None
    #: Extra files written alongside (e.g. ca.crt, namespace for a service-account dir).
    extra_files: dict[str, bytes] = field(default_factory=dict)
    token: str = ""

    @property
    def path(self) -> Path:
        return self.directory / self.filename

    def rotate(self, expiration_seconds: int | None = None) -> str:
        """Mint a new token and swap it in atomically; returns it."""
        if expiration_seconds is not None:
            self.expiration_seconds = expiration_seconds
        self.token = self.server.mint_token(
            self.namespace,
            self.service_account,
            audiences=self.audiences,
            expiration_seconds=self.expiration_seconds,
            pod=self.pod,
        )
        write_atomic_volume(
            self.directory, {**self.extra_files, self.filename: self.token.encode()}
        )
        return self.token


class KubernetesApiServer(LocalServer):
    """HTTPS Kubernetes API subset: TokenRequest, TokenReview, ServiceAccount get, version.

    Test API: `namespace`, `service_account`, `pod` (the "current pod"), `pod_token` (its
    own token, minted at start), `ca_pem`, `add_service_account()`, `delete_service_account()`,
    `add_pod()`, `delete_pod()`, `add_secret()`, `allow()` / `deny_all()`, `mint_token()`,
    `review()`, `verify()`, `write_service_account_dir()`, `write_projected_token()`,
    `write_kubeconfig()`, `in_cluster_environment()`, `issued` (claims of every token
    minted), `max_expiration_seconds`, `leeway_seconds`, and from `LocalServer` the counts
    (`requests`, `token_requests`) and faults (`delay`, `fail_next()`, `stop_listening()`).
    """

    def __init__(
        self,
        *,
        namespace: str = "fake-ns",
        service_account: str = "fake-pod-sa",
        pod: str = "fake-pod",
        node: str = "fake-node",
        issuer: str = DEFAULT_ISSUER,
        api_audiences: Iterable[str] | None = None,
        max_expiration_seconds: int | None = None,
        grant_pod_defaults: bool = True,
    ) -> None:
        self.ca = make_ca("fake-kubernetes-ca")
        super().__init__(
            tls=self.ca.issue(
                [
                    "127.0.0.1",
                    "localhost",
                    "kubernetes",
                    "kubernetes.default",
                    "kubernetes.default.svc",
                    "kubernetes.default.svc.cluster.local",
                ],
                common_name="kube-apiserver",
            )
        )
        self.namespace, self.service_account, self.pod = namespace, service_account, pod
        self.node = node
        self.issuer = issuer
        self.api_audiences = list(api_audiences or [issuer])
        self.max_expiration_seconds = max_expiration_seconds
        #: Clock skew allowed on exp/nbf, as go-jose's default (set 0 for exact expiry).
        self.leeway_seconds = 60
        self.service_accounts: dict[tuple[str, str], _Object] = {}
        self.pods: dict[tuple[str, str], _Object] = {}
        self.secrets: dict[tuple[str, str], _Object] = {}
        self.nodes: dict[str, _Object] = {}
        self.rules: set[Rule] = set()
        self.issued: list[dict[str, Any]] = []
        self._state = threading.Lock()
        self._keys: list[tuple[str, rsa.RSAPrivateKey]] = []
        self.rotate_signing_key(keep_old=False)
        self.add_service_account(namespace, service_account)
        self.add_pod(namespace, pod, service_account=service_account, node=node)
        if grant_pod_defaults:
            me = service_account_username(namespace, service_account)
            self.allow(
                me, "create", "serviceaccounts/token", namespace=namespace, name=service_account
            )
            self.allow(me, "get", "serviceaccounts", namespace=namespace, name=service_account)
            self.allow(me, "create", "tokenreviews")
        self.pod_token = self.mint_token(
            namespace, service_account, expiration_seconds=KUBELET_TOKEN_SECONDS, pod=pod
        )

    # -- client configuration

    @property
    def ca_pem(self) -> bytes:
        return self.ca.cert_pem

    def in_cluster_environment(self) -> dict[str, str]:
        """KUBERNETES_SERVICE_HOST/PORT as the kubelet sets them (lightkube reads these)."""
        return {
            "KUBERNETES_SERVICE_HOST": "127.0.0.1",
            "KUBERNETES_SERVICE_PORT": str(self.port),
            "KUBERNETES_SERVICE_PORT_HTTPS": str(self.port),
        }

    def write_service_account_dir(
        self, directory: Path, *, expiration_seconds: int = KUBELET_TOKEN_SECONDS
    ) -> Path:
        """What the kubelet mounts at /var/run/secrets/kubernetes.io/serviceaccount: `token`
        (a fresh pod-bound token for the API audiences), `ca.crt`, `namespace` -- in the
        atomic-writer layout. Use `write_projected_token` for a handle that can rotate."""
        self.write_projected_token(
            directory,
            audiences=self.api_audiences,
            expiration_seconds=expiration_seconds,
            extra_files={"ca.crt": self.ca_pem, "namespace": self.namespace.encode()},
        )
        return directory

    def write_projected_token(
        self,
        directory: Path,
        *,
        filename: str = "token",
        audiences: Iterable[str] | None = None,
        expiration_seconds: int = KUBELET_TOKEN_SECONDS,
        namespace: str | None = None,
        service_account: str | None = None,
        pod: str | None = None,
        extra_files: Mapping[str, bytes] | None = None,
    ) -> ProjectedTokenFile:
        """A `serviceAccountToken` projected volume source (audience, expirationSeconds, path)
        as the kubelet writes it; defaults to the current pod's service account, bound to
        the pod. No 600 s minimum here (the kubelet enforces it on the pod spec), so tests
        can write already-expiring tokens."""
        projected = ProjectedTokenFile(
            server=self,
            directory=directory,
            filename=filename,
            namespace=namespace or self.namespace,
            service_account=service_account or self.service_account,
            audiences=list(audiences or self.api_audiences),
            expiration_seconds=expiration_seconds,
            pod=pod if pod is not None else (self.pod if service_account is None else None),
            extra_files=dict(extra_files or {}),
        )
        projected.rotate()
        return projected

    def write_kubeconfig(
        self,
        path: Path,
        *,
        token: str | None = None,
        token_file: Path | None = None,
        namespace: str | None = None,
        context: str = "fake-context",
    ) -> Path:
        """A kubeconfig for this server (CA embedded). The user is `token_file` if given,
        else `token`, else the pod's own token."""
        user: dict[str, str] = (
            {"tokenFile": str(token_file)} if token_file else {"token": token or self.pod_token}
        )
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "fake-cluster",
                    "cluster": {
                        "server": self.url,
                        "certificate-authority-data": base64.b64encode(self.ca_pem).decode(),
                    },
                }
            ],
            "users": [{"name": "fake-user", "user": user}],
            "contexts": [
                {
                    "name": context,
                    "context": {
                        "cluster": "fake-cluster",
                        "user": "fake-user",
                        "namespace": namespace or self.namespace,
                    },
                }
            ],
            "current-context": context,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    # -- objects and permissions

    def add_service_account(self, namespace: str, name: str) -> _Object:
        with self._state:
            found = self.service_accounts.get((namespace, name))
            if found is None:
                found = self.service_accounts[(namespace, name)] = _Object(namespace, name)
            return found

    def delete_service_account(self, namespace: str, name: str) -> None:
        """Tokens of a deleted account stop authenticating (its uid is gone)."""
        with self._state:
            self.service_accounts.pop((namespace, name), None)

    def add_pod(
        self,
        namespace: str,
        name: str,
        *,
        service_account: str = "default",
        node: str | None = None,
    ) -> _Object:
        self.add_service_account(namespace, service_account)
        with self._state:
            pod = _Object(namespace, name, service_account=service_account, node=node)
            self.pods[(namespace, name)] = pod
            if node is not None and node not in self.nodes:
                self.nodes[node] = _Object("", node)
            return pod

    def delete_pod(self, namespace: str, name: str) -> None:
        """Tokens bound to a deleted pod stop authenticating."""
        with self._state:
            self.pods.pop((namespace, name), None)

    def add_secret(self, namespace: str, name: str) -> _Object:
        with self._state:
            secret = self.secrets[(namespace, name)] = _Object(namespace, name)
            return secret

    def allow(
        self,
        user: str,
        verb: str,
        resource: str,
        *,
        namespace: str | None = None,
        name: str | None = None,
    ) -> None:
        """Allow `user` (e.g. `service_account_username(ns, sa)`) to `verb` `resource`:
        ("create", "serviceaccounts/token"), ("get", "serviceaccounts"),
        ("create", "tokenreviews")."""
        self.rules.add(Rule(user, verb, resource, namespace, name))

    def deny_all(self) -> None:
        self.rules.clear()

    def _authorized(
        self, user: str, verb: str, resource: str, namespace: str | None, name: str | None
    ) -> bool:
        return any(
            rule.user == user
            and rule.verb == verb
            and rule.resource == resource
            and rule.namespace in (None, namespace)
            and rule.name in (None, name)
            for rule in self.rules
        )

    # -- tokens

    def rotate_signing_key(self, *, keep_old: bool = True) -> str:
        """Sign new tokens with a fresh key (old ones still verify if `keep_old`)."""
        private = rsa.generate_private_key(65537, 2048)
        der = private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        kid = base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()
        self._keys = [(kid, private), *self._keys] if keep_old else [(kid, private)]
        return kid

    @property
    def jwks(self) -> dict[str, Any]:
        keys = []
        for kid, private in self._keys:
            numbers = private.public_key().public_numbers()
            keys.append(
                {
                    "use": "sig",
                    "kty": "RSA",
                    "kid": kid,
                    "alg": "RS256",
                    "n": _b64_int(numbers.n),
                    "e": _b64_int(numbers.e),
                }
            )
        return {"keys": keys}

    def mint_token(
        self,
        namespace: str,
        service_account: str,
        *,
        audiences: Iterable[str] | None = None,
        expiration_seconds: int = 3600,
        pod: str | None = None,
        secret: str | None = None,
        now: float | None = None,
    ) -> str:
        """Sign a service-account token directly (no API call, no validation: any lifetime,
        even negative, for expiry tests). The account (and `pod`/`secret`) must exist."""
        account = self.service_accounts[(namespace, service_account)]
        issued_at = int(time.time() if now is None else now)
        private_claims: dict[str, Any] = {"namespace": namespace}
        if pod is not None:
            bound = self.pods[(namespace, pod)]
            if bound.node is not None:
                node = self.nodes.get(bound.node)
                private_claims["node"] = {"name": bound.node, "uid": node.uid if node else ""}
            private_claims["pod"] = {"name": bound.name, "uid": bound.uid}
        if secret is not None:
            bound = self.secrets[(namespace, secret)]
            private_claims["secret"] = {"name": bound.name, "uid": bound.uid}
        private_claims["serviceaccount"] = {"name": account.name, "uid": account.uid}
        claims = {
            "aud": list(audiences or self.api_audiences),
            "exp": issued_at + expiration_seconds,
            "iat": issued_at,
            "iss": self.issuer,
            "jti": str(uuid.uuid4()),
            "kubernetes.io": private_claims,
            "nbf": issued_at,
            "sub": service_account_username(namespace, service_account),
        }
        kid, private = self._keys[0]
        with self._state:
            self.issued.append(claims)
        return pyjwt.encode(claims, private, algorithm="RS256", headers={"kid": kid})

    def verify(self, token: str, *, audience: str | None = None) -> dict[str, Any]:
        """Decode a token this server minted (signature, issuer, exp; `audience` if given)."""
        kid = pyjwt.get_unverified_header(token).get("kid")
        private = next(p for k, p in self._keys if k == kid)
        return dict(
            pyjwt.decode(
                token,
                private.public_key(),
                algorithms=["RS256"],
                issuer=self.issuer,
                audience=audience,
                options={"verify_aud": audience is not None},
            )
        )

    def review(self, token: str, audiences: Iterable[str] | None = None) -> dict[str, Any]:
        """The `status` a TokenReview of `token` gets (same logic the endpoint uses)."""
        wanted = list(audiences or [])
        try:
            claims = self._authenticate(token, wanted or self.api_audiences)
        except _TokenRejected as rejected:
            return {"user": {}, "error": f"[invalid bearer token, {rejected}]"}
        token_audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        matched = [a for a in (wanted or self.api_audiences) if a in token_audiences]
        private = claims["kubernetes.io"]
        extra: dict[str, list[str]] = {
            "authentication.kubernetes.io/credential-id": [f"JTI={claims['jti']}"]
        }
        if "node" in private:
            extra["authentication.kubernetes.io/node-name"] = [private["node"]["name"]]
            extra["authentication.kubernetes.io/node-uid"] = [private["node"]["uid"]]
        if "pod" in private:
            extra["authentication.kubernetes.io/pod-name"] = [private["pod"]["name"]]
            extra["authentication.kubernetes.io/pod-uid"] = [private["pod"]["uid"]]
        namespace = private["namespace"]
        return {
            "authenticated": True,
            "user": {
                "username": claims["sub"],
                "uid": private["serviceaccount"]["uid"],
                "groups": [
                    "system:serviceaccounts",
                    f"system:serviceaccounts:{namespace}",
                    "system:authenticated",
                ],
                "extra": extra,
            },
            "audiences": matched,
        }

    def _authenticate(self, token: str, audiences: Iterable[str]) -> dict[str, Any]:
        try:
            kid = pyjwt.get_unverified_header(token).get("kid")
        except pyjwt.PyJWTError as error:
            raise _TokenRejected("token lookup failed") from error
        private = next((p for k, p in self._keys if k == kid), None)
        if private is None:
            raise _TokenRejected("square/go-jose: error in cryptographic primitive")
        try:
            claims = pyjwt.decode(
                token,
                private.public_key(),
                algorithms=["RS256"],
                options={"verify_aud": False, "require": ["exp", "iat", "iss", "sub"]},
                leeway=self.leeway_seconds,
            )
        except pyjwt.ExpiredSignatureError as error:
            raise _TokenRejected("service account token has expired") from error
        except pyjwt.PyJWTError as error:
            raise _TokenRejected("square/go-jose: error in cryptographic primitive") from error
        if claims.get("iss") != self.issuer:
            raise _TokenRejected("token lookup failed")
        token_audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        wanted = list(audiences)
        if not set(token_audiences) & set(wanted):
            raise _TokenRejected(
                f"token audiences {json.dumps(token_audiences)} is invalid for the target "
                f"audiences {json.dumps(wanted)}"
            )
        private_claims = claims.get("kubernetes.io") or {}
        namespace = str(private_claims.get("namespace"))
        account_ref = private_claims.get("serviceaccount") or {}
        with self._state:
            account = self.service_accounts.get((namespace, str(account_ref.get("name"))))
            pod_ref = private_claims.get("pod")
            pod = self.pods.get((namespace, str(pod_ref["name"]))) if pod_ref else None
        if account is None:
            raise _TokenRejected(f'serviceaccounts "{account_ref.get("name")}" not found')
        if account.uid != account_ref.get("uid"):
            raise _TokenRejected(
                f"service account UID ({account.uid}) does not match claim "
                f"({account_ref.get('uid')})"
            )
        if pod_ref is not None:
            if pod is None:
                raise _TokenRejected(f'pods "{pod_ref["name"]}" not found')
            if pod.uid != pod_ref.get("uid"):
                raise _TokenRejected(
                    f"pod UID ({pod.uid}) does not match claim ({pod_ref.get('uid')})"
                )
        return dict(claims)

    @property
    def token_requests(self) -> int:
        """TokenRequest calls received (injected faults included)."""
        return self.count(TOKEN_REQUEST_ENDPOINT)

    # -- HTTP

    def route(self, request: HttpRequest) -> tuple[str, Handler] | None:
        path, method = request.path, request.method
        match = _TOKEN_PATH.match(path)
        if match:
            ns, name = match["ns"], match["name"]
            return TOKEN_REQUEST_ENDPOINT, self._api(
                request, "create", lambda user: self._token_request(request, user, ns, name)
            )
        match = _SA_PATH.match(path)
        if match:
            ns, name = match["ns"], match["name"]
            return SERVICE_ACCOUNT_ENDPOINT, self._api(
                request, "get", lambda user: self._get_service_account(user, ns, name)
            )
        if path == TOKEN_REVIEW_PATH:
            return TOKEN_REVIEW_ENDPOINT, self._api(
                request, "create", lambda user: self._token_review(request, user)
            )
        if path == "/version" and method == "GET":
            return VERSION_ENDPOINT, self._version
        if path == "/.well-known/openid-configuration" and method == "GET":
            return DISCOVERY_ENDPOINT, self._discovery
        if path == "/openid/v1/jwks" and method == "GET":
            return JWKS_ENDPOINT, lambda r: HttpResponse.json(200, self.jwks)
        return None

    def not_found(self, request: HttpRequest) -> HttpResponse:
        return status_response(
            404,
            "NotFound",
            "the server could not find the requested resource",
            {"causes": [{"reason": "UnexpectedServerResponse", "message": "404 page not found"}]},
        )

    def fault_response(self, status: int, endpoint: str) -> HttpResponse:
        reasons = {
            429: ("TooManyRequests", "the server has received too many requests"),
            500: ("InternalError", "Internal error occurred: injected fault"),
            503: ("ServiceUnavailable", "the server is currently unable to handle the request"),
            504: ("Timeout", "the server was unable to return a response in the time allotted"),
        }
        reason, message = reasons.get(status, ("InternalError", f"injected fault {status}"))
        retry = [("Retry-After", "1")] if status in (429, 503) else []
        return status_response(
            status, reason, message, {"retryAfterSeconds": 1} if retry else None, retry
        )

    def _api(self, request: HttpRequest, verb: str, handle: Any) -> Handler:
        """Wrap a resource handler: method check, authentication (401), then `handle(user)`
        which authorises (403) and answers; `ApiError`s become Status responses."""
        expected = "POST" if verb == "create" else "GET"

        def respond(_: HttpRequest) -> HttpResponse:
            if request.method != expected:
                return status_response(
                    405,
                    "MethodNotAllowed",
                    "the server does not allow this method on the requested resource",
                )
            token = request.bearer_token()
            try:
                if token is None:
                    raise _TokenRejected("no bearer token")
                claims = self._authenticate(token, self.api_audiences)
            except _TokenRejected:
                return status_response(401, "Unauthorized", "Unauthorized")
            try:
                result: HttpResponse = handle(claims["sub"])
                return result
            except ApiError as error:
                return error.response()

        return respond

    def _forbid(
        self, user: str, verb: str, resource: str, namespace: str | None, name: str | None
    ) -> None:
        if self._authorized(user, verb, resource, namespace, name):
            return
        base = resource.partition("/")[0]
        group = "authentication.k8s.io" if base == "tokenreviews" else ""
        subject = f"{base}.{group}" if group else base
        subject += f' "{name}"' if name else ""
        scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
        message = (
            f'{subject} is forbidden: User "{user}" cannot {verb} resource "{resource}" '
            f'in API group "{group}" {scope}'
        )
        details: dict[str, Any] = {"kind": base}
        if name:
            details = {"name": name, **details}
        if group:
            details["group"] = group
        raise ApiError(403, "Forbidden", message, details)

    def _get_service_account(self, user: str, namespace: str, name: str) -> HttpResponse:
        self._forbid(user, "get", "serviceaccounts", namespace, name)
        with self._state:
            account = self.service_accounts.get((namespace, name))
        if account is None:
            raise _not_found("serviceaccounts", name)
        return HttpResponse.json(
            200,
            {
                "kind": "ServiceAccount",
                "apiVersion": "v1",
                "metadata": {
                    "name": name,
                    "namespace": namespace,
                    "uid": account.uid,
                    "resourceVersion": str(int(account.created * 1000) % 10**8),
                    "creationTimestamp": _timestamp(account.created),
                },
            },
        )

    def _token_request(
        self, request: HttpRequest, user: str, namespace: str, name: str
    ) -> HttpResponse:
        self._forbid(user, "create", "serviceaccounts/token", namespace, name)
        try:
            body = request.json()
        except ValueError as error:
            raise ApiError(400, "BadRequest", f"error decoding request body: {error}") from error
        if not isinstance(body, dict) or body.get("kind", "TokenRequest") != "TokenRequest":
            kind = body.get("kind") if isinstance(body, dict) else None
            raise ApiError(
                400,
                "BadRequest",
                f"the object provided is unrecognized (must be of type TokenRequest): "
                f"kind {kind!r}",
            )
        metadata = body.get("metadata") or {}
        spec = dict(body.get("spec") or {})
        if metadata.get("name") and metadata["name"] != name:
            raise _invalid(
                "authentication.k8s.io",
                "TokenRequest",
                name,
                "metadata.name",
                metadata["name"],
                "must match the service account name if specified",
            )
        if metadata.get("namespace") and metadata["namespace"] != namespace:
            raise _invalid(
                "authentication.k8s.io",
                "TokenRequest",
                name,
                "metadata.namespace",
                metadata["namespace"],
                "must match the service account namespace if specified",
            )
        with self._state:
            account = self.service_accounts.get((namespace, name))
        if account is None:
            raise _not_found("serviceaccounts", name)
        audiences = list(spec.get("audiences") or self.api_audiences)
        seconds = spec.get("expirationSeconds")
        seconds = 3600 if seconds is None else int(seconds)  # the API's defaulting
        now = time.time()
        if seconds < MIN_EXPIRATION_SECONDS:
            raise _invalid(
                "authentication.k8s.io",
                "TokenRequest",
                "",
                "spec.expirationSeconds",
                seconds,
                "may not specify a duration less than 10 minutes",
            )
        if seconds > MAX_EXPIRATION_SECONDS:
            raise _invalid(
                "authentication.k8s.io",
                "TokenRequest",
                "",
                "spec.expirationSeconds",
                seconds,
                "may not specify a duration larger than 2^32 seconds",
            )
        pod, secret = self._bound_object(spec.get("boundObjectRef"), namespace, name)
        headers: list[tuple[str, str]] = []
        if self.max_expiration_seconds and seconds > self.max_expiration_seconds:
            warning = (
                f"requested expiration of {seconds} seconds shortened to "
                f"{self.max_expiration_seconds} seconds"
            )
            headers.append(("Warning", f'299 - "{warning}"'))
            seconds = self.max_expiration_seconds
        token = self.mint_token(
            namespace,
            name,
            audiences=audiences,
            expiration_seconds=seconds,
            pod=pod,
            secret=secret,
            now=now,
        )
        return HttpResponse.json(
            201,
            {
                "kind": "TokenRequest",
                "apiVersion": AUTHENTICATION_V1,
                "metadata": {
                    "name": name,
                    "namespace": namespace,
                    "creationTimestamp": _timestamp(now),
                },
                "spec": {
                    "audiences": audiences,
                    "expirationSeconds": seconds,
                    "boundObjectRef": spec.get("boundObjectRef"),
                },
                "status": {"token": token, "expirationTimestamp": _timestamp(now + seconds)},
            },
            headers,
        )

    def _bound_object(
        self, ref: Mapping[str, Any] | None, namespace: str, name: str
    ) -> tuple[str | None, str | None]:
        """(pod, secret) names a token is bound to; the apiserver's checks and errors."""
        if not ref:
            return None, None
        kind, api_version = ref.get("kind"), ref.get("apiVersion") or ""
        ref_name, ref_uid = ref.get("name") or "", ref.get("uid") or ""
        core = "/" not in api_version
        with self._state:
            if core and kind == "Pod":
                found = self.pods.get((namespace, ref_name))
                if found is None:
                    raise _not_found("pods", ref_name)
                if found.service_account != name:
                    raise ApiError(
                        400,
                        "BadRequest",
                        f'cannot bind token for serviceaccount "{name}" to pod running with '
                        "different serviceaccount name.",
                    )
                pod, secret = ref_name, None
            elif core and kind == "Secret":
                found = self.secrets.get((namespace, ref_name))
                if found is None:
                    raise _not_found("secrets", ref_name)
                pod, secret = None, ref_name
            else:
                # Go's GroupVersionKind.String(): "group/version, Kind=K" ("/v1, ..." for core)
                group_version = api_version if "/" in api_version else f"/{api_version}"
                gvk = f"{group_version}, Kind={kind}"
                raise ApiError(400, "BadRequest", f"cannot bind token to object of type {gvk}")
        if ref_uid and ref_uid != found.uid:
            raise ApiError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {kind} "{ref_name}": the UID in the bound '
                f"object reference ({ref_uid}) does not match the UID in record. The object "
                "might have been deleted and then recreated",
                {"name": ref_name, "kind": kind},
            )
        return pod, secret

    def _token_review(self, request: HttpRequest, user: str) -> HttpResponse:
        self._forbid(user, "create", "tokenreviews", None, None)
        try:
            body = request.json()
        except ValueError as error:
            raise ApiError(400, "BadRequest", f"error decoding request body: {error}") from error
        spec = (body or {}).get("spec") or {}
        token = spec.get("token")
        if not token:
            raise _invalid(
                "authentication.k8s.io",
                "TokenReview",
                "",
                "spec.token",
                "",
                "token must not be empty",
            )
        status = self.review(token, spec.get("audiences"))
        return HttpResponse.json(
            201,
            {
                "kind": "TokenReview",
                "apiVersion": AUTHENTICATION_V1,
                "metadata": {"creationTimestamp": None},
                "spec": spec,
                "status": status,
            },
        )

    def _version(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse.json(
            200,
            {
                "major": "1",
                "minor": "33",
                "gitVersion": "v1.33.0-fake",
                "gitCommit": "0" * 40,
                "gitTreeState": "clean",
                "buildDate": "2025-01-01T00:00:00Z",
                "goVersion": "go1.24.0",
                "compiler": "gc",
                "platform": "linux/amd64",
            },
        )

    def _discovery(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse.json(
            200,
            {
                "issuer": self.issuer,
                "jwks_uri": f"{self.url}/openid/v1/jwks",
                "response_types_supported": ["id_token"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
            },
        )


class _TokenRejected(Exception):
    """Why a bearer token does not authenticate (the TokenReview `error` text)."""


def _b64_int(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
