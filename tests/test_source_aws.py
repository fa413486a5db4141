"""AWS Secrets Manager (`sources = aws`), against moto's real server behind a faulty proxy.

Values are fake and never printed: checks compare them into booleans and counts first.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from prefect_secrets import (
    Secret,
    SecretNotFound,
    SecretSourceError,
    SettingsError,
    aget_many,
    get_many,
)
from prefect_secrets._core.missing import MISSING
from prefect_secrets._sources.aws import AwsSource
from prefect_secrets._sources.registry import source_of_kind
from prefect_secrets._sources.remote import deadline_of
from prefect_secrets.sources import SecretKey, SourceConfig
from tests.support.aws import MotoServer
from tests.support.cli import Result, run_cli
from tests.support.servers import PrefectServer

pytest_plugins = ["tests.support.aws_fixtures"]

GET = "secretsmanager.GetSecretValue"
BATCH = "secretsmanager.BatchGetSecretValue"
MASK = "********"


def aws_source() -> AwsSource:
    """The process's aws source (the registry keeps one, with its cache)."""
    source = source_of_kind("aws", SourceConfig())
    assert isinstance(source, AwsSource)
    return source


def shown(result: Result, value: str) -> str:
    """The CLI's output with `value` blanked, for assertion messages."""
    return result.output.replace(value, "<value>")


# --- reading -------------------------------------------------------------------------------


def test_an_org_wide_secret_is_read_from_prefix_and_name(
    aws: MotoServer, fake: Callable[[str], str]
) -> None:
    """`DB_PASSWORD` is the AWS secret `prefect/DB_PASSWORD`, as `aws` and the console show."""
    value = fake("db")
    aws.client().create_secret(Name="prefect/DB_PASSWORD", SecretString=value)
    ok = Secret("DB_PASSWORD").get() == value
    assert ok
    assert Secret("DB_PASSWORD").exists()
    assert Secret("DB_PASSWORD").source() == "AWS Secrets Manager secret 'prefect/DB_PASSWORD'"


def test_a_missing_secret_is_not_found_and_says_where_it_looked(aws: MotoServer) -> None:
    with pytest.raises(SecretNotFound) as caught:
        Secret("NO_SUCH_SECRET").get()
    assert "AWS Secrets Manager secret 'prefect/NO_SUCH_SECRET'" in str(caught.value)
    assert not Secret("NO_SUCH_SECRET").exists()


def test_scoped_secrets_use_project_and_domain_paths_and_fall_back_in_one_request(
    aws: MotoServer, fake: Callable[[str], str]
) -> None:
    """project+domain, project, domain, then org-wide: the whole chain in one batch call."""
    values = {
        "prefect/etl/prod/TOKEN": fake("etl-prod"),
        "prefect/etl/_/ONLY_PROJECT": fake("etl"),
        "prefect/_/prod/ONLY_DOMAIN": fake("prod"),
        "prefect/ORG_ONLY": fake("org"),
    }
    sm = aws.client()
    for name, value in values.items():
        sm.create_secret(Name=name, SecretString=value)
    aws.reset_counts()
    got = {
        "prefect/etl/prod/TOKEN": Secret("TOKEN", project="etl", domain="prod").get(),
        "prefect/etl/_/ONLY_PROJECT": Secret("ONLY_PROJECT", "etl", "prod").get(),
        "prefect/_/prod/ONLY_DOMAIN": Secret("ONLY_DOMAIN", "etl", "prod").get(),
        "prefect/ORG_ONLY": Secret("ORG_ONLY", "etl", "prod").get(),
    }
    assert [got[name] == value for name, value in values.items()] == [True] * 4
    assert (aws.count(route=BATCH), aws.count(route=GET)) == (4, 0)
    assert not Secret("TOKEN").exists()  # org-wide lookups do not see a scoped secret


def test_names_map_to_aws_names_and_back() -> None:
    aws, config = aws_source(), SourceConfig()
    keys = [
        SecretKey("DB_PASSWORD"),
        SecretKey("api-key", "etl", "prod"),
        SecretKey("X", "etl", None),
        SecretKey("X", None, "prod-eu"),
    ]
    names = [aws.store_name(key, config) for key in keys]
    assert names == [
        "prefect/DB_PASSWORD",
        "prefect/etl/prod/api-key",
        "prefect/etl/_/X",
        "prefect/_/prod-eu/X",
    ]
    assert [aws.key_of(name, config) for name in names] == keys
    foreign = ["other/X", "prefect/a/b", "prefect/_/_/X", "prefect/Etl/_/X", "prefect/a/b/c/d"]
    assert [aws.key_of(name, config) for name in foreign] == [None] * 5


def test_the_prefix_is_a_setting_of_the_aws_source(
    aws: MotoServer, write_config: Callable[..., Path], fake: Callable[[str], str]
) -> None:
    value = fake("team")
    aws.client().create_secret(Name="team-a/API_KEY", SecretString=value)
    write_config('[settings.aws]\nprefix = "team-a/"\n')
    ok = Secret("API_KEY").get() == value
    assert ok


def test_a_bad_aws_setting_names_where_it_was_set(
    aws: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREFECT_SECRETS_AWS_RECOVERY_WINDOW_DAYS", "3")
    with pytest.raises(SettingsError, match="PREFECT_SECRETS_AWS_RECOVERY_WINDOW_DAYS"):
        aws_source().delete(SecretKey("X"), SourceConfig())


def test_json_strings_are_decoded_by_the_caller(
    aws: MotoServer, fake: Callable[[str], str]
) -> None:
    creds = {"user": "etl", "password": fake("pw")}
    aws.client().create_secret(Name="prefect/CREDS", SecretString=json.dumps(creds))
    ok = Secret("CREDS").get() == creds
    assert ok
    ok = Secret("CREDS").get(raw=True) == json.dumps(creds)
    assert ok


def test_binary_secrets_come_back_as_bytes(aws: MotoServer) -> None:
    blob = b"\x00\xfffake-binary"
    aws.client().create_secret(Name="prefect/KEYTAB", SecretBinary=blob)
    ok = Secret("KEYTAB").get() == blob
    assert ok


async def test_async_lookups(aws: MotoServer, fake: Callable[[str], str]) -> None:
    value = fake("async")
    aws.client().create_secret(Name="prefect/ASYNC_ONE", SecretString=value)
    ok = await Secret("ASYNC_ONE").aget() == value
    assert ok
    assert not await Secret("ASYNC_MISSING").aexists()
    ok = await aget_many(["ASYNC_ONE"]) == {"ASYNC_ONE": value}
    assert ok


# --- rotation and versions ---------------------------------------------------------------


def test_a_rotated_value_is_seen_once_the_cache_ttl_expires(
    aws: MotoServer, monkeypatch: pytest.MonkeyPatch, fake: Callable[[str], str]
) -> None:
    monkeypatch.setenv("PREFECT_SECRETS_CACHE_TTL", "0.5")
    old, new = fake("old"), fake("new")
    sm = aws.client()
    sm.create_secret(Name="prefect/ROTATED", SecretString=old)
    ok = Secret("ROTATED").get() == old
    assert ok
    sm.put_secret_value(SecretId="prefect/ROTATED", SecretString=new)  # rotation, elsewhere
    ok = Secret("ROTATED").get() == old  # cached: no request
    assert ok
    assert aws.count(route=GET) == 1
    time.sleep(0.6)
    ok = Secret("ROTATED").get() == new
    assert ok


def test_a_write_through_the_library_is_seen_at_once(
    aws: MotoServer, fake: Callable[[str], str]
) -> None:
    """What `prefect-secrets set X --store aws` does, in this process: its cache forgets X."""
    old, new = fake("old"), fake("new")
    aws.client().create_secret(Name="prefect/WRITTEN", SecretString=old)
    ok = Secret("WRITTEN").get() == old
    assert ok
    config = SourceConfig()
    assert aws_source().write(SecretKey("WRITTEN"), new, config) == "replaced"
    ok = Secret("WRITTEN").get() == new
    assert ok


def test_versions_by_id_and_by_staging_label(aws: MotoServer, fake: Callable[[str], str]) -> None:
    first, second = fake("v1"), fake("v2")
    sm = aws.client()
    v1 = sm.create_secret(Name="prefect/VERSIONED", SecretString=first)["VersionId"]
    v2 = sm.put_secret_value(SecretId="prefect/VERSIONED", SecretString=second)["VersionId"]
    aws_ = aws_source()
    config, key = SourceConfig(), SecretKey("VERSIONED")
    assert aws_.versioned
    assert aws_.versions(key, config) == [v1, v2]  # oldest first
    ok = aws_.lookup_version(key, v1, config) == first
    assert ok
    ok = aws_.lookup_version(key, "AWSPREVIOUS", config) == first
    assert ok
    ok = aws_.lookup_version(key, "AWSCURRENT", config) == second
    assert ok
    missing = "00000000-0000-4000-8000-000000000000"
    ok = aws_.lookup_version(key, missing, config) is MISSING
    assert ok
    ok = aws_.lookup_version(key, "NO_SUCH_LABEL", config) is MISSING
    assert ok


# --- failures ------------------------------------------------------------------------------


def test_access_denied_is_an_error_naming_aws_and_the_secret_and_is_not_retried(
    aws: MotoServer, fake: Callable[[str], str]
) -> None:
    value = fake("denied")
    aws.client().create_secret(Name="prefect/DENIED", SecretString=value)
    aws.deny("prefect/DENIED")
    aws.reset_counts()
    with pytest.raises(SecretSourceError) as caught:
        Secret("DENIED").get()
    message = str(caught.value)
    assert "AWS Secrets Manager: secret 'prefect/DENIED': access denied" in message
    assert "user/fake-user" in message  # who was refused
    assert "not found" not in message
    leaked = value in message
    assert not leaked
    assert aws.count(route=GET) == 1


def test_a_real_iam_denial_names_the_identity(
    aws_iam: MotoServer, point_at: Callable[..., None], fake: Callable[[str], str]
) -> None:
    """moto enforces IAM: a user whose policy denies GetSecretValue is refused, once."""
    aws_iam.client().create_secret(Name="prefect/IAM_GUARDED", SecretString=fake("iam"))
    point_at(aws_iam, **aws_iam.iam_user("fake-reader"))
    aws_iam.reset_counts()
    with pytest.raises(SecretSourceError) as caught:
        Secret("IAM_GUARDED").get()
    assert "access denied to arn:aws:iam::123456789012:user/fake-reader" in str(caught.value)
    assert aws_iam.count(route=GET) == 1


def test_an_unknown_access_key_is_an_error_not_retried(
    aws_iam: MotoServer, point_at: Callable[..., None]
) -> None:
    point_at(aws_iam, AWS_ACCESS_KEY_ID="AKIAFAKEUNKNOWNKEY00")
    aws_iam.reset_counts()
    with pytest.raises(SecretSourceError, match="access key is not recognised"):
        Secret("ANYTHING").get()
    assert aws_iam.count(route=GET) == 1


def test_get_many_falls_back_to_one_call_per_name_when_batch_is_not_allowed(
    aws_iam: MotoServer, point_at: Callable[..., None], fake: Callable[[str], str]
) -> None:
    """Policies older than BatchGetSecretValue allow only GetSecretValue: still works."""
    values = {f"OLD_POLICY_{i}": fake(f"old-{i}") for i in range(3)}
    for name, value in values.items():
        aws_iam.client().create_secret(Name=f"prefect/{name}", SecretString=value)
    user = aws_iam.iam_user("fake-old-policy", deny=["secretsmanager:BatchGetSecretValue"])
    point_at(aws_iam, **user)
    aws_iam.reset_counts()
    ok = get_many(list(values)) == values
    assert ok
    assert (aws_iam.count(route=BATCH), aws_iam.count(route=GET)) == (1, 3)
    aws_source().invalidate()
    ok = get_many(list(values)) == values
    assert ok
    assert (aws_iam.count(route=BATCH), aws_iam.count(route=GET)) == (1, 6)  # not asked again


def test_no_credentials_is_an_error_saying_so(
    aws: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(SecretSourceError, match="no AWS credentials found"):
        Secret("ANYTHING").get()


def test_throttling_and_5xx_are_retried_within_the_bound(
    aws: MotoServer, monkeypatch: pytest.MonkeyPatch, fake: Callable[[str], str]
) -> None:
    value = fake("flaky")
    aws.client().create_secret(Name="prefect/FLAKY", SecretString=value)
    monkeypatch.setenv("PREFECT_SECRETS_RETRIES", "2")
    aws.reset_counts()
    aws.fail_next(1, 429, route=GET)
    aws.fail_next(1, 503, route=GET)
    ok = Secret("FLAKY").get() == value
    assert ok
    assert aws.count(route=GET) == 3
    aws_source().invalidate()
    aws.fail_next(5, 503, route=GET)
    with pytest.raises(SecretSourceError) as caught:
        Secret("FLAKY").get()
    assert "ServiceUnavailable (HTTP 503, 3 attempts)" in str(caught.value)
    assert aws.count(route=GET) == 6


def test_an_unreachable_endpoint_is_an_error_not_a_missing_secret(
    aws: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREFECT_SECRETS_RETRIES", "1")
    aws.refuse()
    started = time.monotonic()
    with pytest.raises(SecretSourceError) as caught:
        Secret("ANYTHING").get()
    assert f"cannot reach {aws.url}" in str(caught.value)
    assert "2 attempts" in str(caught.value)
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("fault", ["hang", "trickle"])
def test_a_slow_endpoint_is_bounded_by_timeout_times_attempts(
    aws: MotoServer, monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    """A hung answer ends at botocore's read timeout per attempt; a trickling one (each read
    sees a byte) only at the lookup's total deadline, timeout x attempts (+ pauses)."""
    monkeypatch.setenv("PREFECT_SECRETS_TIMEOUT", "0.5")
    monkeypatch.setenv("PREFECT_SECRETS_RETRIES", "1" if fault == "hang" else "0")
    deadline = deadline_of(SourceConfig().settings)
    if fault == "hang":
        aws.hang(route=GET)
    else:
        aws.trickle(10, route=GET)  # a byte every 0.1 s: no read ever times out
    started = time.monotonic()
    with pytest.raises(SecretSourceError) as caught:
        Secret("SLOW").get()
    elapsed = time.monotonic() - started
    assert elapsed < deadline + 0.5, (elapsed, deadline)
    if fault == "hang":
        assert "did not answer within 0.5 s (2 attempts)" in str(caught.value)
        assert elapsed >= 1.0  # two attempts of 0.5 s
        assert aws.count(route=GET) == 2
    else:
        assert f"no complete answer within {deadline:g} s" in str(caught.value)
        assert elapsed >= deadline - 0.1


# --- get_many ------------------------------------------------------------------------------


def test_get_many_asks_one_batch_request_per_20_names(
    aws: MotoServer, fake: Callable[[str], str]
) -> None:
    values = {f"MANY_{i:02}": fake(f"many-{i}") for i in range(25)}
    sm = aws.client()
    for name, value in values.items():
        sm.create_secret(Name=f"prefect/{name}", SecretString=value)
    aws.reset_counts()
    few = dict(list(values.items())[:12])
    ok = get_many(list(few)) == few
    assert ok
    assert (aws.count(route=BATCH), aws.count(route=GET)) == (1, 0)
    aws_source().invalidate()
    aws.reset_counts()
    ok = get_many([*values, "MANY_MISSING"], default=None)["MANY_MISSING"] is None
    assert ok
    assert (aws.count(route=BATCH), aws.count(route=GET)) == (2, 0)
    ok = get_many(list(values)) == values  # cached, misses too
    assert ok
    assert aws.count() == 2


def test_a_denied_secret_in_a_batch_fails_the_batch_naming_it(
    aws: MotoServer, fake: Callable[[str], str]
) -> None:
    sm = aws.client()
    for name in ("BATCH_OK", "BATCH_DENIED"):
        sm.create_secret(Name=f"prefect/{name}", SecretString=fake(name))
    aws.deny("prefect/BATCH_DENIED")
    with pytest.raises(SecretSourceError, match="secret 'prefect/BATCH_DENIED': access denied"):
        get_many(["BATCH_OK", "BATCH_DENIED"])


# --- writes and deletes --------------------------------------------------------------------


def test_writes_store_strings_bytes_and_json_and_say_created_or_replaced(
    aws: MotoServer, fake: Callable[[str], str]
) -> None:
    aws_, config = aws_source(), SourceConfig()
    text, data = fake("text"), {"token": fake("token")}
    assert aws_.write(SecretKey("W_TEXT", "etl", "prod"), text, config) == "created"
    assert aws_.write(SecretKey("W_BYTES"), b"\x00fake", config) == "created"
    assert aws_.write(SecretKey("W_JSON"), data, config) == "created"
    assert aws_.write(SecretKey("W_JSON"), data, config) == "replaced"
    sm = aws.client()
    stored = sm.get_secret_value(SecretId="prefect/etl/prod/W_TEXT")["SecretString"]
    ok = stored == text
    assert ok
    ok = sm.get_secret_value(SecretId="prefect/W_BYTES")["SecretBinary"] == b"\x00fake"
    assert ok
    ok = json.loads(sm.get_secret_value(SecretId="prefect/W_JSON")["SecretString"]) == data
    assert ok
    listed = sorted(map(tuple, aws_.names(config)), key=str)
    assert listed == [("W_BYTES", None, None), ("W_JSON", None, None), ("W_TEXT", "etl", "prod")]


def test_delete_keeps_aws_recovery_window_and_set_brings_the_secret_back(
    aws: MotoServer, fake: Callable[[str], str]
) -> None:
    """Deleted (recoverable 30 days): lookups and ls no longer see it; a later set restores it."""
    aws_, config, key = aws_source(), SourceConfig(), SecretKey("GONE")
    aws.client().create_secret(Name="prefect/GONE", SecretString=fake("gone"))
    assert aws_.delete(key, config) is True
    assert "DeletedDate" in aws.client().describe_secret(SecretId="prefect/GONE")
    assert not Secret("GONE").exists()
    assert list(aws_.names(config)) == []
    assert aws_.delete(key, config) is False
    value = fake("back")
    assert aws_.write(key, value, config) == "created"
    ok = Secret("GONE").get() == value
    assert ok


def test_a_zero_recovery_window_deletes_at_once(
    aws: MotoServer, monkeypatch: pytest.MonkeyPatch, fake: Callable[[str], str]
) -> None:
    monkeypatch.setenv("PREFECT_SECRETS_AWS_RECOVERY_WINDOW_DAYS", "0")
    aws.client().create_secret(Name="prefect/FORCED", SecretString=fake("forced"))
    assert aws_source().delete(SecretKey("FORCED"), SourceConfig())
    with pytest.raises(aws.client().exceptions.ResourceNotFoundException):
        aws.client().describe_secret(SecretId="prefect/FORCED")


def test_the_region_setting_overrides_the_environment(
    aws: MotoServer, monkeypatch: pytest.MonkeyPatch, fake: Callable[[str], str]
) -> None:
    aws.client().create_secret(Name="prefect/REGIONAL", SecretString=fake("us"))
    monkeypatch.setenv("PREFECT_SECRETS_AWS_REGION", "eu-west-1")
    assert not Secret("REGIONAL").exists()  # moto keeps each region apart, as AWS does
    config = SourceConfig()
    place = aws_source().stored_place(SecretKey("REGIONAL"), config)
    assert place == "AWS Secrets Manager secret 'prefect/REGIONAL' in eu-west-1"


def test_doctor_check_reaches_the_endpoint(aws: MotoServer) -> None:
    config = SourceConfig()
    assert aws.url in aws_source().check(config)


def test_without_boto3_the_error_says_which_extra_to_install(aws: MotoServer) -> None:
    code = (
        "import sys; sys.modules['boto3'] = None\n"
        "from prefect_secrets import Secret\n"
        "try:\n    Secret('X').get()\nexcept Exception as exc:\n    print(exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert 'pip install "prefect-secrets[aws]"' in result.stdout


# --- the CLI, as users run it --------------------------------------------------------------


def test_cli_set_get_ls_which_delete_with_store_aws(
    aws: MotoServer, fake: Callable[[str], str]
) -> None:
    value = fake("cli")
    result = run_cli("set", "CLI_TOKEN", "--store", "aws", stdin=value + "\n")
    assert result.code == 0, shown(result, value)
    assert "Saved secret 'CLI_TOKEN': AWS Secrets Manager secret 'prefect/CLI_TOKEN'" in (
        result.stdout
    )
    stored = aws.client().get_secret_value(SecretId="prefect/CLI_TOKEN")["SecretString"]
    ok = stored == value
    assert ok

    new = fake("cli-new")
    result = run_cli("set", "CLI_TOKEN", "--store", "aws", "--yes", stdin=new + "\n")
    assert (result.code, "Replaced secret 'CLI_TOKEN'" in result.stdout) == (0, True)

    outputs = [run_cli("get", "CLI_TOKEN"), run_cli("ls"), run_cli("which", "CLI_TOKEN")]
    assert [r.code for r in outputs] == [0, 0, 0], [shown(r, new) for r in outputs]
    ok = "from AWS Secrets Manager secret 'prefect/CLI_TOKEN'" in outputs[0].stdout
    assert ok, shown(outputs[0], new)
    ok = "CLI_TOKEN" in outputs[1].stdout
    assert ok, shown(outputs[1], new)
    found = "CLI_TOKEN comes from AWS Secrets Manager secret 'prefect/CLI_TOKEN'"
    ok = found in " ".join(outputs[2].stdout.split())
    assert ok, shown(outputs[2], new)
    revealed = run_cli("get", "CLI_TOKEN", "--reveal")
    ok = revealed.stdout.strip() == new
    assert ok

    result = run_cli("delete", "CLI_TOKEN", "--store", "aws", "--yes")
    outputs.append(result)
    assert result.code == 0, shown(result, new)
    assert "Deleted secret 'CLI_TOKEN' from AWS Secrets Manager secret 'prefect/CLI_TOKEN'" in (
        " ".join(result.stdout.split())
    )
    assert run_cli("get", "CLI_TOKEN").code == 3
    leaks = [r.output.count(v) for r in outputs for v in (value, new)]
    assert leaks == [0] * len(leaks)


def test_cli_errors_are_one_line_naming_aws(aws: MotoServer) -> None:
    aws.client().create_secret(Name="prefect/CLI_DENIED", SecretString="fake-cli-denied")
    aws.deny("prefect/CLI_DENIED")
    result = run_cli("get", "CLI_DENIED")
    assert result.code == 4, result.output.replace("fake-cli-denied", "<value>")
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1
    assert "AWS Secrets Manager: secret 'prefect/CLI_DENIED': access denied" in errors[0]
    assert "Traceback" not in result.output


# --- masking -------------------------------------------------------------------------------

FLOW = """
from prefect import flow, get_run_logger
from prefect_secrets import Secret

@flow
def uses_aws() -> bool:
    password = Secret("FLOW_PASSWORD").get()
    get_run_logger().info("connecting with password %s", password)
    print("RESULT", password == {value!r})
    return True

uses_aws()
"""


def test_a_value_from_aws_is_masked_in_flow_logs(
    aws: MotoServer, server: PrefectServer, tmp_path: Path, fake: Callable[[str], str]
) -> None:
    value = fake("flow")
    aws.client().create_secret(Name="prefect/FLOW_PASSWORD", SecretString=value)
    script = tmp_path / "flow.py"
    script.write_text(FLOW.format(value=value))
    completed = subprocess.run(
        [sys.executable, str(script)],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output.replace(value, "<value>")[-3000:]
    checks = ["RESULT True" in completed.stdout, f"with password {MASK}" in completed.stderr]
    assert checks == [True, True]
    assert output.count(value) == 0
