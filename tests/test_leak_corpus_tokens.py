"""The leak corpus with tokens: a value minted during the run is masked like a stored one.

A representative subset of the corpus's in-reach pathways (the one of
tests/test_leak_corpus_managers.py) runs in `library` mode only, against the session's
Prefect server, where every secret the flows read is a token: each secret name is a
`[tokens.NAME]` table (`kind = "oauth2_client_credentials"`) of a config file outside
every scanned directory, minted by one real authlib authorization server
(tests/support/oauth2.py) started by the module. The tables alternate between the
server's `token_endpoint` and its `issuer` (OpenID discovery), and between
`client_secret_basic` and `client_secret_post`; each asks for its own `audience` (the
secret's name), so every token the server issued belongs to one secret. The flow
processes have `PREFECT_SECRETS_SOURCES=env,tokens`: the env holds only the client
secret (a plain secret, `PREFECT__CONTEXT__SECRETS__CORPUS_CLIENT_SECRET`), the tokens
source everything the flows read.

The values are not known before the run: the flows record the digests of what they
received, the server records every access token it issued (`OAuth2Server.issued_tokens`,
with its claims in `issued`), and after the run the harness (`values_after_run`) takes
the tokens issued for each secret as the needles of its label (a flow process mints one
per secret; a process-pool worker mints its own). A pathway counts as received only if
every value its flows got is a token the server issued for that secret.

Pathways (`SELECTED` of the managers' corpus, less the shapes a token cannot have):

- log_calls: logger %s/%r/f-string, print, root and library loggers (two tokens);
- escaped_reprs: an exception's repr and KeyError's repr of the token (a token is
  URL-safe base64 and dots: nothing to escape, but the reprs still reach the logs);
- extra_user_handler: `extra={...}` on Prefect's logger and the user's own file handler;
- result_persist_task: a persisted task result (must be refused or skipped);
- process_pool_worker_resolves: a ProcessPoolTaskRunner worker mints the token itself
  (its environment and config file are the flow process's);
- env_injection_child_process: `with_secrets(as_env_var=...)`, a child process echoes it.

Left out: multiline_values (a PEM key and a service-account dict): a token is one line,
one string, never a dict.

Control: `task_writes_home_file` (out of reach: the user's own file IO) writes the token
to ~/.pgpass; its hits prove the scan counts issued tokens (0 hits elsewhere means masked,
not "not looked for").

    nice python -m pytest tests/test_leak_corpus_tokens.py -q -p no:randomly   # ~1.5 min
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.leak_corpus.catalog import Pathway, by_name
from tests.support.leak_corpus.harness import MASK, Outcome, Report, run_corpus
from tests.support.leak_corpus.values import DB_USER
from tests.support.oauth2 import OAuth2Server
from tests.support.servers import PrefectServer

SELECTED = (
    "log_calls",
    "escaped_reprs",
    "extra_user_handler",
    "result_persist_task",
    "process_pool_worker_resolves",
    "env_injection_child_process",
)
CONTROL = "task_writes_home_file"
CLIENT_ID = "corpus-flows"
CLIENT_SECRET_NAME = "CORPUS_CLIENT_SECRET"
#: Where each pathway's flows show a token, and what they show there once it is masked:
#: "logs" (the server's logs of the pathway's runs), "home:<file>", "stdout".
MASKED_AT = {
    "log_calls": ("logs", f"calling the API with token {MASK}"),
    "escaped_reprs": ("logs", f"'password': '{MASK}'"),
    "extra_user_handler": ("home:etl-audit.log", f"'user': '{DB_USER}', 'password': '{MASK}'"),
    "process_pool_worker_resolves": ("logs", f"postgresql://{DB_USER}:{MASK}@"),
    "env_injection_child_process": ("stdout", f"with password {MASK}"),
}
#: Env vars of this process that would reach the flow processes otherwise.
_CLEARED_PREFIXES = ("PREFECT_SECRETS_", "PREFECT__CONTEXT__SECRETS__")
_PROXIES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")


@dataclass(repr=False)
class TokensRun:
    report: Report
    workdir: Path
    idp: OAuth2Server
    declared: dict[str, str]  # secret name -> "token_endpoint" | "issuer"
    seconds: float

    def __repr__(self) -> str:
        return f"<TokensRun of {len(self.declared)} tokens, {self.seconds:.0f} s>"


def _shown(outcome: Outcome) -> dict[str, Any]:
    """What the runner reported, without the digests of what the flows received."""
    return {key: value for key, value in outcome.result.items() if key != "minted"}


def _pathways() -> list[Pathway]:
    pathways = by_name()
    return [pathways[name] for name in (*SELECTED, CONTROL)]


def _no_secret_blocks(name: str, value: Any) -> None:
    raise AssertionError("library mode declares every secret as a token: no Secret blocks")


@pytest.fixture(scope="module")
def tokens_run(
    prefect_server: PrefectServer,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Iterator[TokensRun]:
    """Starts the authorization server, declares every secret of the subset as a token of
    it, runs the subset once, and feeds the tokens it issued to the scan."""
    root = tmp_path_factory.mktemp("leak-tokens")
    config = root / "config" / "prefect-secrets.toml"  # outside every scanned directory
    config.parent.mkdir()
    client_secret = f"fake-client-secret-{secrets.token_hex(12)}"
    declared: dict[str, str] = {}
    with contextlib.ExitStack() as stack:
        patch = stack.enter_context(pytest.MonkeyPatch.context())
        for name in list(os.environ):
            if name.startswith(_CLEARED_PREFIXES) or name in _PROXIES:
                patch.delenv(name)
        idp = stack.enter_context(OAuth2Server(token_lifetime=3600))
        idp.register_client(CLIENT_ID, client_secret)

        def declare(name: str, made_up: Any) -> None:
            """The made-up value is not used: the server mints the value."""
            by = "issuer" if len(declared) % 2 else "token_endpoint"
            declared[name] = by
            tables = []
            for n, (secret_name, way) in enumerate(declared.items()):
                endpoint = idp.issuer if way == "issuer" else idp.token_endpoint
                method = "client_secret_post" if n % 4 >= 2 else "client_secret_basic"
                tables.append(
                    f"[tokens.{secret_name}]\n"
                    'kind = "oauth2_client_credentials"\n'
                    f"{way} = {json.dumps(endpoint)}\n"
                    f'client_id = "{CLIENT_ID}"\n'
                    f'client_secret = "{CLIENT_SECRET_NAME}"\n'
                    f'audience = "{secret_name}"\n'
                    f'auth_method = "{method}"\n'
                )
            config.write_text("\n".join(tables), encoding="utf-8")
            config.chmod(0o600)

        began = time.monotonic()
        report = run_corpus(
            prefect_server.api_url,
            prefect_server.home,
            root / "runs",
            _no_secret_blocks,
            pathways=_pathways(),
            parallel=2,
            modes=("library",),
            library_env={
                "PREFECT_SECRETS_SOURCES": "env,tokens",
                "PREFECT_SECRETS_CONFIG": str(config),
                "PREFECT__CONTEXT__SECRETS__" + CLIENT_SECRET_NAME: client_secret,
                "NO_PROXY": "127.0.0.1,localhost",
                "no_proxy": "127.0.0.1,localhost",
            },
            library_store=declare,
            values_after_run=idp.issued_for,
            shards={"default": 2},
        )
        result = TokensRun(report, root / "runs", idp, declared, time.monotonic() - began)
        capture = request.config.pluginmanager.get_plugin("capturemanager")
        assert capture is not None
        with capture.global_and_fixture_disabled():
            print("\n" + _table(result), flush=True)
        yield result


def _outcome(run: TokensRun, name: str) -> Outcome:
    return run.report.outcome(name, "library")


def _table(run: TokensRun) -> str:
    """Hits and tokens issued per pathway (never a value)."""
    lines = ["| pathway | hits | tokens issued (per label) | received | places |", "|---" * 5 + "|"]
    for name in (*SELECTED, CONTROL):
        outcome = _outcome(run, name)
        issued = ", ".join(f"{label} {len(v.sensitive)}" for label, v in outcome.values.items())
        lines.append(
            f"| {name}{' (control)' if name == CONTROL else ''} | {outcome.total} | {issued} "
            f"| {'yes' if outcome.received else 'NO'} | {outcome.places() or '-'} |"
        )
    lines.append(
        f"\n{len(run.idp.issued_tokens)} tokens issued in {run.idp.token_requests} token "
        f"requests, {run.idp.count('openid-configuration')} discoveries; "
        f"wall time {run.seconds:.0f} s"
    )
    return "\n".join(lines)


def test_no_issued_token_leaves_the_process(tokens_run: TokensRun) -> None:
    failures = []
    for name in SELECTED:
        ours = _outcome(tokens_run, name)
        # Masking must change nothing for the code: the flows received tokens the server
        # issued for their secrets.
        if not ours.received:
            failures.append(f"{name}: the flow did not receive issued tokens: {_shown(ours)}")
        if ours.total:
            failures.append(
                f"{name}: {ours.total} occurrence(s) of an issued token: where: {ours.places()}; "
                f"spelled as: {ours.kinds()}"
            )
        stored_ok = MASK not in ours.stored and ours.stored.startswith(("refused", "skipped"))
        if ours.pathway.persists and not stored_ok:
            failures.append(
                f"{name}: {ours.pathway.persists}: {ours.stored}; expected a refusal or "
                "skipped persistence"
            )
    assert failures == [], "issued tokens:\n" + "\n".join(failures)


def test_the_server_issued_a_token_for_every_secret_the_flows_read(tokens_run: TokensRun) -> None:
    """0 hits means masked, not never minted: every label's needles are issued tokens."""
    missing = [
        f"{name}/{label}"
        for name in (*SELECTED, CONTROL)
        for label, value in _outcome(tokens_run, name).values.items()
        if not value.sensitive
    ]
    assert missing == [], f"no token issued for {missing}"
    failed = [r.error for r in tokens_run.idp.token_log if r.status != 200]
    assert failed == [], f"refused token requests: {failed}"
    # Both ways of finding the token endpoint were used (discovery: once per process).
    assert set(tokens_run.declared.values()) == {"issuer", "token_endpoint"}
    assert tokens_run.idp.count("openid-configuration") >= 1
    assert {r.auth_method for r in tokens_run.idp.token_log} == {
        "client_secret_basic",
        "client_secret_post",
    }


def _logs_of(api: httpx.Client, tag: str) -> str:
    runs = api.post("flow_runs/filter", json={"flow_runs": {"tags": {"all_": [tag]}}}).json()
    logs = api.post(
        "logs/filter",
        json={"logs": {"flow_run_id": {"any_": [run["id"] for run in runs]}}, "limit": 200},
    ).json()
    return "\n".join(log["message"] for log in logs)


def test_the_mask_shows_where_the_flows_logged_a_token(
    tokens_run: TokensRun, prefect_server: PrefectServer
) -> None:
    missing = []
    with httpx.Client(base_url=prefect_server.api_url + "/", timeout=30) as api:
        for name, (place, expected) in MASKED_AT.items():
            outcome = _outcome(tokens_run, name)
            process_dir = tokens_run.workdir / f"{outcome.process}-library"
            if place == "logs":
                text = _logs_of(api, outcome.tag)
            elif place == "stdout":
                text = (process_dir / "stdout.bin").read_bytes().decode("utf-8", "replace")
            else:
                text = (process_dir / "home" / place.removeprefix("home:")).read_text()
            if expected not in text:
                missing.append(f"{name}: {place} lacks {expected!r}")
    assert missing == [], "\n".join(missing)


def test_the_scan_counts_issued_tokens(tokens_run: TokensRun) -> None:
    """The control writes the token it got to ~/.pgpass (the user's own file IO, out of
    reach): found there, so the scan looks for the tokens the server issued."""
    control = _outcome(tokens_run, CONTROL)
    assert control.received, f"the control did not receive an issued token: {_shown(control)}"
    assert control.total >= 1, "the scan did not find the token the control wrote to HOME"
    assert "HOME:.pgpass" in control.places(), control.places()
