"""AWS Secrets Manager (`kind = "aws"`): secrets under a name prefix, in one account and region.

| secret `DB_PASSWORD` in scope        | AWS secret name                |
|--------------------------------------|--------------------------------|
| org-wide                             | `prefect/DB_PASSWORD`          |
| project `etl`, domain `prod`         | `prefect/etl/prod/DB_PASSWORD` |
| project `etl` only                   | `prefect/etl/_/DB_PASSWORD`    |
| domain `prod` only                   | `prefect/_/prod/DB_PASSWORD`   |

The rule: `<prefix><name>` org-wide, `<prefix><project>/<domain>/<name>` scoped, `_` standing
for an absent part. The name keeps its case (AWS names are case-sensitive). Secret names
hold no `/`, and scope names hold neither `/` nor `_`, so a name parses back unambiguously
(`key_of`, for `ls`); the console's search by `prefect/` shows them all, grouped by scope.

Everything AWS's own tools read configures it: boto3's credential chain (env vars,
`AWS_PROFILE`, SSO, an instance or task role), the region (`AWS_REGION`, the profile's),
`AWS_ENDPOINT_URL`. Our settings (`[settings.aws]`, env `PREFECT_SECRETS_AWS_<NAME>`):

| setting              | default    | what                                                  |
|----------------------|------------|-------------------------------------------------------|
| prefix               | "prefect/" | prepended to every name ("" for none)                 |
| region               | (boto3's)  | overrides the region of the environment/profile       |
| recovery_window_days | 30         | days before a `delete` is final (7-30); 0: at once    |

Values: a `SecretString` is returned as the string (the caller decodes JSON), a
`SecretBinary` as bytes; writes store str as SecretString, bytes as SecretBinary, anything
else as JSON text. Versions: `lookup_version` takes a VersionId (the UUID AWS shows) or a
staging label (`AWSPREVIOUS`, your own); `versions` lists VersionIds, oldest first.

Deleting keeps AWS's recovery window (its default, 30 days): a mistaken `delete` is undone
with `aws secretsmanager restore-secret`. A secret scheduled for deletion is deleted as far
as this library goes: lookups find nothing there (MISSING: lower sources answer), `ls` does
not list it, and `set` restores it with the new value.

Failures are `SecretSourceError`s naming the store and the secret, with AWS's error code,
never its message (a write's could echo the value; only an access denial's principal is
kept). Only ResourceNotFoundException and a scheduled deletion are MISSING. botocore retries
throttling, 5xx and broken connections (mode "standard", `retries` + 1 attempts of
`timeout`), never a denial or bad credentials; the base class's deadline bounds the whole.
`get_many` asks BatchGetSecretValue, 20 names a request (an identity not allowed it: one
GetSecretValue per name).
"""

from __future__ import annotations

import os
import re
import threading

from prefect_secrets._config.settings import Setting
from prefect_secrets._config.store import UnstorableValueError
from prefect_secrets._core import TYPE_CHECKING
from prefect_secrets._core.environ import getenv
from prefect_secrets._core.errors import SecretSourceError
from prefect_secrets._core.missing import MISSING
from prefect_secrets._core.names import is_valid_name, validate_scope
from prefect_secrets._sources.remote import RemoteSource, require_extra
from prefect_secrets.sources import SecretKey, SourceConfig

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

__all__ = ["AwsSource"]

#: BatchGetSecretValue takes at most 20 SecretIds.
BATCH_SIZE = 20
_ABSENT = "_"  # an absent scope part; scope names never hold "_"
_AWS_NAME = re.compile(r"[A-Za-z0-9/_+=.@-]*")
_REGION = re.compile(r"[a-z]{2}(-[a-z0-9]+)+")
_UUID = re.compile(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_PRINCIPAL = re.compile(r"User: (arn:aws[\w-]*:(?:iam|sts)::\d{12}:[\w+=,.@/-]+)")
_NOT_FOUND = "ResourceNotFoundException"
_EXISTS = "ResourceExistsException"
#: Not an AWS code: an InvalidRequestException saying the secret is scheduled for deletion.
_DELETED = "ScheduledForDeletion"
_GONE = (_NOT_FOUND, _DELETED)
_DENIED = ("AccessDeniedException", "AccessDenied")
_DESCRIBED = {"Description": "Written by prefect-secrets"}
_REASONS = {
    "UnrecognizedClientException": "the AWS access key is not recognised",
    "InvalidClientTokenId": "the AWS access key is not recognised",
    "InvalidSignatureException": "AWS refused the request's signature: check the secret key",
    "SignatureDoesNotMatch": "AWS refused the request's signature: check the secret key",
    "ExpiredTokenException": "the AWS credentials have expired: refresh them (aws sso login)",
    "ExpiredToken": "the AWS credentials have expired: refresh them (aws sso login)",
    "DecryptionFailure": "AWS could not decrypt it: the identity needs kms:Decrypt on its key",
}


def _prefix(value: object) -> str:
    if not isinstance(value, str) or _AWS_NAME.fullmatch(value) is None:
        raise ValueError("expected letters, digits and /_+=.@- (AWS's name characters)")
    return value


def _region(value: object) -> str | None:
    if value == "":
        return None
    if not isinstance(value, str) or _REGION.fullmatch(value) is None:
        raise ValueError('expected an AWS region such as "eu-west-1", or "" for boto3\'s')
    return value


def _window(value: object) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value not in {0, *range(7, 31)}:
        raise ValueError("expected 7 to 30 days, or 0 to delete at once without recovery")
    return value


class AwsSource(RemoteSource):
    kind = "aws"
    title = "AWS Secrets Manager"
    extra = "aws"
    versioned = True
    setting_specs = (
        Setting("prefix", _prefix, "prefect/", "prepended to every secret's name in AWS"),
        Setting("region", _region, None, "the AWS region (default: boto3's, AWS_REGION)"),
        Setting("recovery_window_days", _window, 30, "days before a deletion is final; 0: now"),
    )

    def __init__(self) -> None:
        super().__init__()
        self._clients: dict[tuple[object, ...], Any] = {}
        self._lock = threading.Lock()
        #: ids of clients whose identity may not BatchGetSecretValue (asked name by name).
        self._no_batch: set[int] = set()
        self._known_prefix: tuple[object, str | None, str] = (None, None, "")

    # --- names ------------------------------------------------------------------------------

    def store_name(self, key: SecretKey, config: SourceConfig) -> str:
        prefix = self._prefix(config)
        if key[1] is None and key[2] is None:
            return prefix + key[0]
        return f"{prefix}{key[1] or _ABSENT}/{key[2] or _ABSENT}/{key[0]}"

    def _prefix(self, config: SourceConfig) -> str:
        # On every lookup, cached ones too: parsing the settings again would cost 6 us of
        # a 20 us cached lookup (measured). The same file (one document object while it is
        # unchanged) and the same env var give the same prefix.
        document, env = config.document, getenv("PREFECT_SECRETS_AWS_PREFIX")
        known = self._known_prefix
        if known[0] is document and known[1] == env:
            return known[2]
        prefix: str = config.source_settings(self)["prefix"]
        self._known_prefix = (document, env, prefix)
        return prefix

    def key_of(self, name: str, config: SourceConfig) -> SecretKey | None:
        prefix = self._prefix(config)
        if not name.startswith(prefix):
            return None
        parts = name[len(prefix) :].split("/")
        if len(parts) == 1 and is_valid_name(parts[0]):
            return SecretKey(parts[0])
        if len(parts) != 3 or not is_valid_name(parts[2]) or parts[:2] == [_ABSENT, _ABSENT]:
            return None
        try:
            project, domain = (
                None if part == _ABSENT else validate_scope(part, what="scope")
                for part in parts[:2]
            )
        except ValueError:
            return None
        return SecretKey(parts[2], project, domain)

    # --- reads ------------------------------------------------------------------------------

    def fetch(self, name: str, config: SourceConfig) -> Any:
        return self._get(name, {}, config)

    def fetch_version(self, name: str, version: str, config: SourceConfig) -> Any:
        # AWS's SDKs and console make UUID VersionIds; anything else is a staging label.
        if _UUID.fullmatch(version):
            return self._get(name, {"VersionId": version}, config)
        return self._get(name, {"VersionStage": version}, config)

    def _get(self, name: str, selector: dict[str, str], config: SourceConfig) -> Any:
        response, code = self._call(name, config, "get_secret_value", SecretId=name, **selector)
        if code:
            return MISSING  # no such secret or version, or scheduled for deletion
        return self._value_of(name, response)

    def _value_of(self, name: str, response: dict[str, Any]) -> Any:
        if "SecretString" in response:
            return response["SecretString"]
        if "SecretBinary" in response:
            return bytes(response["SecretBinary"])
        raise self.error(name, "AWS answered with neither SecretString nor SecretBinary")

    def fetch_many(self, names: Sequence[str], config: SourceConfig) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for start in range(0, len(names), BATCH_SIZE):
            found.update(self._batch(names[start : start + BATCH_SIZE], config))
        return found

    def _batch(self, names: Sequence[str], config: SourceConfig) -> dict[str, Any]:
        client = self.client(config, names[0])
        if len(names) == 1 or id(client) in self._no_batch:
            return super().fetch_many(names, config)
        label = ", ".join(names) if len(names) <= 3 else f"{names[0]}, ... ({len(names)} secrets)"
        found: dict[str, Any] = {}
        params: dict[str, Any] = {"SecretIdList": list(names)}
        while True:
            try:
                response = client.batch_get_secret_value(**params)
            except Exception as exc:  # noqa: BLE001 - every SDK failure becomes one error
                if _code(exc) not in _DENIED:
                    raise self._mapped(label, exc, config) from None
                # Policies written before BatchGetSecretValue existed (2023) allow only
                # GetSecretValue: ask name by name, and keep doing so for this identity.
                self._no_batch.add(id(client))
                return super().fetch_many(names, config)
            for entry in response.get("SecretValues", ()):
                found[entry["Name"]] = self._value_of(entry["Name"], entry)
            for failure in response.get("Errors", ()):
                code = _code_of(failure.get("ErrorCode", ""), failure.get("Message", ""))
                if code not in _GONE:
                    raise self._failure(
                        failure.get("SecretId", label), code, failure.get("Message", ""), config
                    )
            if not response.get("NextToken"):
                return found
            params["NextToken"] = response["NextToken"]

    # --- writes -----------------------------------------------------------------------------

    def store(self, name: str, value: Any, config: SourceConfig) -> str:
        payload = _payload(value)
        described, code = self._call(name, config, "describe_secret", SecretId=name)
        if code:
            _, code = self._call(
                name, config, "create_secret", (_EXISTS,), Name=name, **_DESCRIBED, **payload
            )
            if not code:
                return "created"
            # Created meanwhile by someone else: write a new version of theirs.
        outcome = "replaced"
        if "DeletedDate" in described:
            # Deleted, as far as lookups go: bring it back with the new value.
            self._call(name, config, "restore_secret", (), SecretId=name)
            outcome = "created"
        self._call(name, config, "put_secret_value", (), SecretId=name, **payload)
        return outcome

    def remove(self, name: str, config: SourceConfig) -> bool:
        window = config.source_settings(self)["recovery_window_days"]
        when = {"RecoveryWindowInDays": window} if window else {"ForceDeleteWithoutRecovery": True}
        _, code = self._call(name, config, "delete_secret", SecretId=name, **when)
        return not code

    def list_names(self, config: SourceConfig) -> list[str]:
        prefix = self._prefix(config)
        client = self.client(config, prefix or "*")
        params = {"Filters": [{"Key": "name", "Values": [prefix]}]} if prefix else {}
        try:
            pages = client.get_paginator("list_secrets").paginate(**params)
            # AWS matches the filter case-insensitively, and on words: check the prefix.
            return [
                secret["Name"]
                for page in pages
                for secret in page.get("SecretList", ())
                if secret["Name"].startswith(prefix)
            ]
        except Exception as exc:  # noqa: BLE001 - every SDK failure becomes one error
            raise self._mapped(prefix + "*", exc, config) from None

    def list_version_history(self, name: str, config: SourceConfig) -> list[tuple[str, Any]]:
        versions: list[dict[str, Any]] = []
        params: dict[str, Any] = {"SecretId": name, "IncludeDeprecated": True}
        while True:  # botocore has no paginator for this one
            page, code = self._call(name, config, "list_secret_version_ids", **params)
            if code:
                return []
            versions.extend(page.get("Versions", ()))
            if not page.get("NextToken"):
                break
            params["NextToken"] = page["NextToken"]
        versions.sort(key=lambda version: version.get("CreatedDate") or 0)
        return [(version["VersionId"], version.get("CreatedDate")) for version in versions]

    # --- places and checks ------------------------------------------------------------------

    def stored_place(self, key: SecretKey, config: SourceConfig) -> str:
        name = self.store_name(key, config)
        return f"{self.place(key, config)} in {self.client(config, name).meta.region_name}"

    def check(self, config: SourceConfig) -> str:
        prefix = self._prefix(config)  # reachable, authenticated and allowed to list
        self._call(prefix + "*", config, "list_secrets", MaxResults=1)
        meta = self.client(config, prefix + "*").meta
        return f"ListSecrets answered at {meta.endpoint_url} ({meta.region_name})"

    # --- the SDK ----------------------------------------------------------------------------

    def client(self, config: SourceConfig, name: str) -> Any:
        """The boto3 client for these settings and this environment's AWS_* variables, made
        once (boto3 reads them when a client is made). `name` is for errors only."""
        settings = config.settings
        region = config.source_settings(self)["region"]
        # Hashed, so that no credential sits in this dict's keys.
        environment = hash(tuple(sorted(i for i in os.environ.items() if i[0][:4] == "AWS_")))
        key = (region, settings.timeout, settings.retries, environment)
        client = self._clients.get(key)
        if client is None:
            with self._lock:
                client = self._clients.get(key)
                if client is None:
                    if len(self._clients) >= 16:  # programs that keep changing AWS_* vars
                        self._clients.clear()
                    client = self._clients[key] = self._new_client(name, region, config)
        return client

    def _new_client(self, name: str, region: str | None, config: SourceConfig) -> Any:
        boto3 = require_extra("boto3", self.extra, self.kind)
        botocore_config = require_extra("botocore.config", self.extra, self.kind)
        settings = config.settings
        options = botocore_config.Config(
            connect_timeout=settings.timeout,
            read_timeout=settings.timeout,
            retries={"total_max_attempts": settings.retries + 1, "mode": "standard"},
            max_pool_connections=16,  # the base class's worker pool
        )
        try:
            session = boto3.session.Session(region_name=region)
            return session.client("secretsmanager", config=options)
        except Exception as exc:  # noqa: BLE001 - every SDK failure becomes one error
            raise self._mapped(name, exc, config) from None

    def _call(
        self, name: str, config: SourceConfig, op: str, quiet: tuple[str, ...] = _GONE, /, **kw: Any
    ) -> tuple[dict[str, Any], str]:
        """(response, "") of `client.<op>(**kw)`, or ({}, code) for an error code in `quiet`
        (by default: the secret is not there); any other failure raises."""
        client = self.client(config, name)
        try:
            return getattr(client, op)(**kw), ""
        except Exception as exc:  # noqa: BLE001 - every SDK failure becomes one error
            code = _code(exc)
            if code and code in quiet:
                return {}, code
            raise self._mapped(name, exc, config) from None

    def _mapped(self, name: str, exc: Exception, config: SourceConfig) -> SecretSourceError:
        """The one-line error for an SDK exception; never its message (it may hold a value)."""
        code = _code(exc)
        if code:
            response: dict[str, Any] = getattr(exc, "response", {})
            message = str(response["Error"].get("Message", ""))
            status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            return self._failure(name, code, message, config, status)
        kind, details = type(exc).__name__, getattr(exc, "kwargs", None) or {}
        endpoint, tries = details.get("endpoint_url", "AWS"), _attempts(config)
        reason = {
            "NoCredentialsError": "no AWS credentials found (env vars, AWS_PROFILE, SSO, a role)",
            "NoRegionError": "no AWS region: set AWS_REGION, a profile's, or [settings.aws] region",
            "ProfileNotFound": f"AWS profile {details.get('profile')!r} is not in ~/.aws/config",
            "ReadTimeoutError": f"{endpoint} did not answer within "
            f"{config.settings.timeout:g} s ({tries})",
        }.get(kind)
        if reason is None and ("Connect" in kind or kind == "SSLError"):
            reason = f"cannot reach {endpoint} ({kind}, {tries})"
        elif reason is None and kind.endswith(("CredentialsError", "TokenRetrievalError")):
            reason = f"could not get AWS credentials ({kind})"
        return self.error(name, reason or f"the AWS SDK failed ({kind})")

    def _failure(
        self, name: str, code: str, message: str, config: SourceConfig, status: object = None
    ) -> SecretSourceError:
        if code in _DENIED:
            principal = _PRINCIPAL.search(message)
            who = f" to {principal.group(1)}" if principal else ""
            reason = f"access denied{who} ({code}): the IAM or resource policy refuses it"
        elif code in _REASONS:
            reason = f"{_REASONS[code]} ({code})"
        elif isinstance(status, int) and (status >= 500 or status == 429 or "Throttl" in code):
            reason = f"AWS answered {code} (HTTP {status}, {_attempts(config)})"  # retried
        else:
            reason = f"AWS answered {code}" + (f" (HTTP {status})" if status else "")
        return self.error(name, reason)


def _attempts(config: SourceConfig) -> str:
    retries = config.settings.retries
    return f"{retries + 1} attempt{'s' if retries else ''}"


def _code(exc: Exception) -> str:
    """The AWS error code of a failed call ("" for the SDK's own errors)."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict) or not isinstance(response.get("Error"), dict):
        return ""
    return _code_of(str(response["Error"].get("Code", "")), str(response["Error"].get("Message")))


def _code_of(code: str, message: str) -> str:
    """AWS's error code, a scheduled deletion told apart from other invalid requests (AWS:
    "...because it was marked for deletion"; moto: "...currently marked deleted")."""
    if code == "InvalidRequestException" and "marked" in message and "delet" in message:
        return _DELETED
    return code


def _payload(value: Any) -> dict[str, Any]:
    if isinstance(value, (bytes, bytearray)):
        return {"SecretBinary": bytes(value)}
    if isinstance(value, str):
        return {"SecretString": value}
    import json

    try:
        return {"SecretString": json.dumps(value, ensure_ascii=False, allow_nan=False)}
    except (TypeError, ValueError):
        raise UnstorableValueError(
            f"a {type(value).__name__} cannot be stored in AWS Secrets Manager: "
            "store a str, bytes, or JSON data"
        ) from None
