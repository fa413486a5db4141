"""AWS Secrets Manager for tests: moto's standalone server, behind a counting, faulty proxy.

moto (`python -m moto.server`) runs as a subprocess on 127.0.0.1; clients talk to an
`AwsProxy` in front of it, which counts requests per operation, injects faults and adds
the per-secret access denial moto cannot do::

    with MotoServer() as aws:
        monkeypatch.setenv(...) for each item of aws.env()   # AWS_ENDPOINT_URL etc.
        sm = aws.client()                                     # boto3 secretsmanager client
        sm.create_secret(Name="db-password", SecretString="fake-value")
        aws.count(route="secretsmanager.GetSecretValue")  # seen by the proxy (a glob)
        aws.deny("db-password")      # GetSecretValue -> ClientError AccessDeniedException
        aws.fail_next(1, 503)        # any FakeHttpServer fault, in the AWS JSON error shape
        aws.reset()                  # moto's /moto-api/reset + proxy counts/faults/denials

    with MotoServer(iam=True) as aws:                         # moto enforces IAM
        env = aws.iam_user("fake-reader")                     # no GetSecretValue at all
        env = aws.iam_user("fake-reader2", deny_secrets=["db-password"])  # one secret only

prefect-aws's `AwsSecret` block works against it unchanged::

    AwsSecret(
        aws_credentials=AwsCredentials(
            aws_access_key_id=aws.access_key_id,
            aws_secret_access_key=aws.secret_access_key,
            region_name=aws.region,
            aws_client_parameters=AwsClientParameters(endpoint_url=aws.url),
        ),
        secret_name="db-password",
    ).read_secret()        # -> the SecretString (a str!) or SecretBinary (bytes)

Faithful: everything moto implements for Secrets Manager (real request signing, the JSON
1.1 protocol, versions and staging labels AWSCURRENT/AWSPREVIOUS, list pagination and
filters, BatchGetSecretValue, scheduled vs forced deletion, ARNs with the 6-character
suffix); IAM with `iam=True` is moto's own evaluation of identity policies for the
*action* (it checks signatures, unknown keys get InvalidClientTokenId). The proxy makes
denials look like the real service: HTTP 400, `x-amzn-ErrorType`/`__type`
AccessDeniedException, message "User: arn:aws:iam::123456789012:user/NAME is not
authorized to perform: secretsmanager:GetSecretValue on resource: ID ..."; unknown keys
give UnrecognizedClientException and bad signatures InvalidSignatureException, also 400
(moto itself answers these in XML with a 403, which botocore reports as Code "403").

Simplified: moto ignores the `Resource` of IAM statements for Secrets Manager (it
evaluates every action against "*"), so per-secret denial (`deny`, `iam_user(...,
deny_secrets=...)`) is done by the proxy for GetSecretValue and BatchGetSecretValue
(denied entries move to `Errors`, as AWS does); moto does not require
secretsmanager:GetSecretValue per secret for BatchGetSecretValue. Enforcement is switched
on through moto's `/moto-api/reset-auth` (the runtime form of INITIAL_NO_AUTH_ACTION_COUNT)
after the admin user is made. Injected 429s carry ThrottlingException; botocore retries
those and 5xx (AWS_MAX_ATTEMPTS / Config(retries=...) bound it).
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Self

from tests.support.fake_http import ProxiedServer, Request, Response, ReverseProxy
from tests.support.servers import free_port

STARTUP_TIMEOUT = 60.0
ACCOUNT_ID = "123456789012"  # moto's default account
#: Credentials used while IAM is not enforced (moto accepts any key then).
FAKE_ACCESS_KEY_ID = "AKIAFAKEFAKEFAKEFAKE"
FAKE_SECRET_ACCESS_KEY = "fake-secret-access-key"

#: (HTTP status, __type) sent for an injected failure of a given status.
_INJECTED_ERRORS = {
    400: "InvalidRequestException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    429: "ThrottlingException",
    500: "InternalServiceError",
    503: "ServiceUnavailable",
}
#: moto's XML auth error codes -> what a JSON-protocol AWS service answers instead.
_XML_TO_JSON_ERRORS = {
    "AccessDenied": "AccessDeniedException",
    "InvalidClientTokenId": "UnrecognizedClientException",
    "SignatureDoesNotMatch": "InvalidSignatureException",
}


def _secret_names(secret_id: str) -> set[str]:
    """Names a SecretId (name, full ARN or partial ARN) may stand for."""
    if not secret_id.startswith("arn:") or ":secret:" not in secret_id:
        return {secret_id}
    name = secret_id.split(":secret:", 1)[1]
    names = {name}
    if len(name) > 7 and name[-7] == "-":
        names.add(name[:-7])  # a full ARN ends in -XXXXXX
    return names


class AwsProxy(ReverseProxy):
    """The proxy in front of moto: counts by operation, speaks AWS JSON errors, and
    denies GetSecretValue per secret (and per access key, if asked)."""

    def __init__(self, upstream: str) -> None:
        super().__init__(upstream)
        #: secret name -> access key ids it is denied to (None: everyone)
        self._denied: dict[str, set[str] | None] = {}
        #: access key id -> IAM user name, for the denial message
        self.users: dict[str, str] = {}

    # -- naming and errors ---------------------------------------------------------

    @staticmethod
    def _credential_scope(request: Request) -> tuple[str, str]:
        """(access key id, service) from a SigV4 Authorization header."""
        header = request.headers.get("Authorization") or ""
        _, _, rest = header.partition("Credential=")
        parts = rest.split(",", 1)[0].split("/")
        if len(parts) >= 4:
            return parts[0], parts[3]
        return "", ""

    def route_name(self, request: Request) -> str:
        """ "secretsmanager.GetSecretValue" (JSON protocol), "iam.CreateUser" (query
        protocol), or the path (moto's own API)."""
        target = request.headers.get("X-Amz-Target")
        if target:
            return target
        _, service = self._credential_scope(request)
        if service and request.body:
            action = dict(
                pair.split("=", 1) for pair in request.body.decode().split("&") if "=" in pair
            ).get("Action")
            if action:
                return f"{service}.{action}"
        return request.raw_path

    def error_response(self, status: int, message: str) -> Response:
        code = _INJECTED_ERRORS.get(status, "InternalServiceError")
        if message == "injected failure":
            message = {
                "ThrottlingException": "Rate exceeded",
                "ServiceUnavailable": "Service Unavailable",
                "InternalServiceError": "An error occurred on the server side.",
            }.get(code, message)
        return self._json_error(status, code, message)

    @staticmethod
    def _json_error(status: int, code: str, message: str) -> Response:
        return Response.json(
            status,
            {"__type": code, "Message": message},
            {"Content-Type": "application/x-amz-json-1.1", "x-amzn-ErrorType": code},
        )

    # -- per-secret denial -----------------------------------------------------------

    def deny(self, secret_id: str, access_key_id: str | None = None) -> None:
        with self.lock:
            for name in _secret_names(secret_id):
                if access_key_id is None:
                    self._denied[name] = None
                else:
                    keys = self._denied.setdefault(name, set())
                    if keys is not None:
                        keys.add(access_key_id)

    def clear_denials(self) -> None:
        with self.lock:
            self._denied.clear()

    def _is_denied(self, secret_id: str, access_key_id: str) -> bool:
        with self.lock:
            for name in _secret_names(secret_id):
                if name in self._denied:
                    keys = self._denied[name]
                    if keys is None or access_key_id in keys:
                        return True
        return False

    def _denial_message(self, access_key_id: str, action: str, secret_id: str) -> str:
        user = self.users.get(access_key_id, "fake-user")
        return (
            f"User: arn:aws:iam::{ACCOUNT_ID}:user/{user} is not authorized to perform: "
            f"secretsmanager:{action} on resource: {secret_id} with an explicit deny in an "
            "identity-based policy"
        )

    def intercept(self, request: Request) -> Response | None:
        if request.headers.get("X-Amz-Target") != "secretsmanager.GetSecretValue":
            return None
        access_key_id, _ = self._credential_scope(request)
        try:
            secret_id = str(json.loads(request.body or b"{}").get("SecretId", ""))
        except ValueError:
            return None
        if self._is_denied(secret_id, access_key_id):
            return self._json_error(
                400,
                "AccessDeniedException",
                self._denial_message(access_key_id, "GetSecretValue", secret_id),
            )
        return None

    def rewrite(self, request: Request, response: Response) -> Response:
        target = request.headers.get("X-Amz-Target") or ""
        if target and response.status in (400, 403) and response.body.lstrip().startswith(b"<"):
            # moto answers auth failures of JSON-protocol calls in the query protocol's XML
            # (403, Code AccessDenied / InvalidClientTokenId); AWS answers JSON with a 400.
            text = response.body.decode(errors="replace")
            xml_code = text.partition("<Code>")[2].partition("</Code>")[0]
            message = text.partition("<Message>")[2].partition("</Message>")[0]
            if xml_code in _XML_TO_JSON_ERRORS:
                return self._json_error(400, _XML_TO_JSON_ERRORS[xml_code], message)
        if target == "secretsmanager.BatchGetSecretValue" and response.status == 200:
            return self._filter_batch(request, response)
        return response

    def _filter_batch(self, request: Request, response: Response) -> Response:
        access_key_id, _ = self._credential_scope(request)
        payload = json.loads(response.body)
        kept, errors = [], list(payload.get("Errors") or [])
        for entry in payload.get("SecretValues") or []:
            if self._is_denied(entry.get("Name", ""), access_key_id) or self._is_denied(
                entry.get("ARN", ""), access_key_id
            ):
                errors.append(
                    {
                        "SecretId": entry.get("Name", ""),
                        "ErrorCode": "AccessDeniedException",
                        "Message": self._denial_message(
                            access_key_id, "GetSecretValue", entry.get("Name", "")
                        ),
                    }
                )
            else:
                kept.append(entry)
        payload["SecretValues"] = kept
        payload["Errors"] = errors
        response.body = json.dumps(payload).encode()
        return response


class MotoServer(ProxiedServer):
    """moto's standalone server in a subprocess, with an `AwsProxy` in front.

    `url` is the proxy (what clients use); `direct_url` is moto itself. With `iam=True`,
    moto enforces IAM from start-up: the server's own credentials (`access_key_id`,
    `secret_access_key`, `env()`, `client()`) are then those of an admin IAM user, which
    change on every `reset()`.
    """

    def __init__(self, *, region: str = "us-east-1", iam: bool = False) -> None:
        self.region = region
        self.iam = iam
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.proxy: AwsProxy | None = None
        self.access_key_id = FAKE_ACCESS_KEY_ID
        self.secret_access_key = FAKE_SECRET_ACCESS_KEY
        self._home = Path(tempfile.mkdtemp(prefix="fake-moto-"))
        #: moto's log: request lines (method, path, status), never bodies.
        self.log_path = self._home / "moto.log"
        self.started_in = 0.0

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> Self:
        began = time.monotonic()
        self.port = free_port()
        self._home.mkdir(parents=True, exist_ok=True)
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AWS_", "MOTO_", "TEST_SERVER_MODE"))
        }
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self._home,
            )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"moto server exited; see {self.log_path}")
            try:
                if self._moto_api("GET", "/moto-api/")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"moto server did not start; see {self.log_path}")
            time.sleep(0.05)
        self.proxy = AwsProxy(self.direct_url).start()
        if self.iam:
            self._enforce_iam()
        self.started_in = time.monotonic() - began
        return self

    def stop(self) -> None:
        if self.proxy is not None:
            self.proxy.stop()
            self.proxy = None
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        shutil.rmtree(self._home, ignore_errors=True)

    def _moto_api(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(method, path, body=body)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    # -- client configuration ----------------------------------------------------------

    @property
    def _aws_proxy(self) -> AwsProxy:
        if self.proxy is None:
            raise RuntimeError("MotoServer is not started")
        return self.proxy

    @property
    def direct_url(self) -> str:
        """moto itself, bypassing counts and faults."""
        return f"http://127.0.0.1:{self.port}"

    def env(
        self, access_key_id: str | None = None, secret_access_key: str | None = None
    ) -> dict[str, str]:
        """What an AWS SDK needs to reach the proxy, and nothing real: no profile, no
        instance metadata (AWS_EC2_METADATA_DISABLED)."""
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": access_key_id or self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": secret_access_key or self.secret_access_key,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def client(self, service: str = "secretsmanager", **kwargs: Any) -> Any:
        """A boto3 client for `service` on the proxy with the server's credentials."""
        import boto3

        options: dict[str, Any] = {
            "endpoint_url": self.url,
            "region_name": self.region,
            "aws_access_key_id": self.access_key_id,
            "aws_secret_access_key": self.secret_access_key,
            **kwargs,
        }
        return boto3.client(service, **options)

    # -- IAM -----------------------------------------------------------------------------

    def _set_auth(self, count: str) -> None:
        status, body = self._moto_api("POST", "/moto-api/reset-auth", count.encode())
        if status != 200:
            raise RuntimeError(f"moto reset-auth failed: {status} {body[:200]!r}")

    def _enforce_iam(self) -> None:
        self._set_auth("inf")
        iam = self.client("iam", endpoint_url=self.direct_url)
        iam.create_user(UserName="fake-admin")
        iam.put_user_policy(
            UserName="fake-admin",
            PolicyName="everything",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
                }
            ),
        )
        key = iam.create_access_key(UserName="fake-admin")["AccessKey"]
        self.access_key_id = key["AccessKeyId"]
        self.secret_access_key = key["SecretAccessKey"]
        self._aws_proxy.users[self.access_key_id] = "fake-admin"
        self._set_auth("0")

    def iam_user(
        self,
        name: str,
        *,
        allow: Iterable[str] = ("secretsmanager:*",),
        deny: Iterable[str] = ("secretsmanager:GetSecretValue",),
        deny_secrets: Iterable[str] | None = None,
    ) -> dict[str, str]:
        """Create IAM user `name` and return `env()` with its credentials.

        Its policy allows `allow` and denies `deny` on every resource (moto enforces
        that), or, with `deny_secrets`, denies them only on those secrets (the policy
        names their ARNs; the proxy enforces it for GetSecretValue/BatchGetSecretValue,
        since moto ignores resources).
        """
        if not self.iam:
            raise RuntimeError("IAM users need MotoServer(iam=True)")
        denied = list(deny_secrets) if deny_secrets is not None else None
        resources: Any = "*"
        if denied is not None:
            resources = [
                f"arn:aws:secretsmanager:{self.region}:{ACCOUNT_ID}:secret:{s}-*" for s in denied
            ]
        statements = [{"Effect": "Allow", "Action": list(allow), "Resource": "*"}]
        if list(deny):
            statements.append({"Effect": "Deny", "Action": list(deny), "Resource": resources})
        iam = self.client("iam", endpoint_url=self.direct_url)
        iam.create_user(UserName=name)
        iam.put_user_policy(
            UserName=name,
            PolicyName="fake-policy",
            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}),
        )
        key = iam.create_access_key(UserName=name)["AccessKey"]
        self._aws_proxy.users[key["AccessKeyId"]] = name
        for secret in denied or ():
            self._aws_proxy.deny(secret, access_key_id=key["AccessKeyId"])
        return self.env(key["AccessKeyId"], key["SecretAccessKey"])

    # -- test controls -------------------------------------------------------------------

    def reset(self) -> None:
        """Empty moto (all services), and forget counts, faults and denials. With
        `iam=True` a new admin user (new credentials) is made."""
        if self.iam:
            self._set_auth("inf")
        status, body = self._moto_api("POST", "/moto-api/reset")
        if status != 200:
            raise RuntimeError(f"moto reset failed: {status} {body[:200]!r}")
        proxy = self._aws_proxy
        proxy.clear_faults()
        proxy.clear_denials()
        proxy.users.clear()
        proxy.reset_counts()
        if self.iam:
            self._enforce_iam()
            proxy.reset_counts()

    def deny(self, secret_id: str, access_key_id: str | None = None) -> None:
        """GetSecretValue of `secret_id` (name or ARN) -> AccessDeniedException, for every
        caller or one access key; BatchGetSecretValue lists it under Errors."""
        self._aws_proxy.deny(secret_id, access_key_id)
