"""The server's endpoint read from the environment, without importing Prefect.

A process whose PREFECT_API_URL is in its environment reads its server secrets without
`import prefect` (1.2 s and 80 MiB). The endpoint it builds must be exactly the one
Prefect's settings give, and wherever a file or a value could make them differ, Prefect
is asked instead. Both are checked in real subprocesses, which start without Prefect.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support.servers import PrefectServer

# Each case: (label, env vars, files in the working directory, profile settings, whether
# the environment alone decides). Values are obviously fake.
CASES: list[tuple[str, dict[str, str], dict[str, str], dict[str, str], bool]] = [
    ("url only", {}, {}, {}, True),
    ("url with a trailing slash", {"PREFECT_API_URL": "http://127.0.0.1:9/api/"}, {}, {}, True),
    ("api key", {"PREFECT_API_KEY": "fake-key-1"}, {}, {}, True),
    ("auth string", {"PREFECT_API_AUTH_STRING": "admin:fake-pass"}, {}, {}, True),
    (
        "auth string beats key",
        {"PREFECT_API_AUTH_STRING": "admin:fake-pass", "PREFECT_API_KEY": "fake-key-2"},
        {},
        {},
        True,
    ),
    ("tls skip 'yes'", {"PREFECT_API_TLS_INSECURE_SKIP_VERIFY": "yes"}, {}, {}, True),
    ("tls skip 'False'", {"PREFECT_API_TLS_INSECURE_SKIP_VERIFY": "False"}, {}, {}, True),
    ("cert file", {"PREFECT_API_SSL_CERT_FILE": "/fake/ca.pem"}, {}, {}, True),
    ("an empty cert file setting", {"PREFECT_API_SSL_CERT_FILE": ""}, {}, {}, True),
    (
        "custom headers",
        {"PREFECT_CLIENT_CUSTOM_HEADERS": '{"X-Fake-Team": "data", "X-Fake-Env": "dev"}'},
        {},
        {},
        True,
    ),
    ("a profile with only a URL", {}, {}, {"PREFECT_API_URL": "http://127.0.0.1:8/api"}, True),
    # Prefect is asked: something besides env vars could set a client setting.
    ("a .env file", {}, {".env": "PREFECT_API_KEY=fake-dotenv-key\n"}, {}, False),
    ("prefect.toml", {}, {"prefect.toml": '[api]\nkey = "fake-toml-key"\n'}, {}, False),
    (
        "pyproject with tool.prefect",
        {},
        {"pyproject.toml": '[tool.prefect.api]\nkey = "fake-pyproject-key"\n'},
        {},
        False,
    ),
    ("a profile with a key", {}, {}, {"PREFECT_API_KEY": "fake-profile-key"}, False),
    (
        "a bool Prefect parses differently",
        {"PREFECT_API_TLS_INSECURE_SKIP_VERIFY": "2"},
        {},
        {},
        False,
    ),
    ("headers that are not an object", {"PREFECT_CLIENT_CUSTOM_HEADERS": "[1]"}, {}, {}, False),
]

COMPARE = r"""
import json, os, sys
cases = json.loads(sys.argv[1])
base = dict(os.environ)
from prefect_secrets._server.endpoint_env import endpoint_from_environment
from prefect_secrets._server import endpoint_env
ours = []
for case in cases:
    os.environ.clear(); os.environ.update(base); os.environ.update(case["env"])
    os.chdir(case["dir"])
    endpoint_env._decided = None
    ours.append(endpoint_from_environment())
print(json.dumps({"prefect imported": "prefect" in sys.modules}))
from prefect.settings import Settings
from prefect_secrets._server.endpoint import _endpoint_from
for case, mine in zip(cases, ours):
    os.environ.clear(); os.environ.update(base); os.environ.update(case["env"])
    os.chdir(case["dir"])
    same = mine == _endpoint_from(Settings()) if mine is not None else None
    print(json.dumps({"label": case["label"], "decided": mine is not None, "same": same}))
"""


def run_python(code: str, args: list[str], environment: dict[str, str], cwd: Path) -> Any:
    """`code` in a fresh interpreter (which starts without Prefect): its JSON lines."""
    result = subprocess.run(
        [sys.executable, "-c", code, *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "fake-noimport" not in result.stdout + result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_the_endpoint_from_the_environment_is_the_one_prefect_builds(tmp_path: Path) -> None:
    cases = []
    for index, (label, env, files, profile, _) in enumerate(CASES):
        folder = tmp_path / f"case-{index}"
        folder.mkdir()
        for file_name, text in files.items():
            (folder / file_name).write_text(text)
        home = folder / "prefect-home"
        home.mkdir()
        lines = [f'{key} = "{value}"' for key, value in profile.items()]
        (home / "profiles.toml").write_text(
            'active = "team"\n[profiles.team]\n' + "\n".join(lines) + "\n"
        )
        cases.append(
            {
                "label": label,
                "dir": str(folder),
                "env": {
                    "PREFECT_API_URL": "http://127.0.0.1:7/api",
                    "PREFECT_HOME": str(home),
                    **env,
                },
            }
        )
    environment = {key: value for key, value in os.environ.items() if "PREFECT" not in key}
    environment["SSL_CERT_FILE"] = "/fake/system-ca.pem"
    lines = run_python(COMPARE, [json.dumps(cases)], environment, tmp_path)
    assert lines[0] == {"prefect imported": False}
    outcomes = {line["label"]: line for line in lines[1:]}
    for label, _, _, _, decided in CASES:
        assert outcomes[label]["decided"] is decided, label
        if decided:
            assert outcomes[label]["same"] is True, label


READ = r"""
import json, sys, time
started = time.perf_counter()
from prefect_secrets import get_many
values = get_many(sys.argv[1:])
print(json.dumps({
    "seconds": time.perf_counter() - started,
    "right": sum(values[name] == f"fake-noimport-{name.lower()}" for name in sys.argv[1:]),
    "prefect imported": "prefect" in sys.modules,
}))
"""


def test_a_process_reads_server_secrets_without_importing_prefect(
    server: PrefectServer, save_block: Callable[[str, Any], None], tmp_path: Path
) -> None:
    names = [f"NOIMPORT_{index}" for index in range(5)]
    for name in names:
        save_block(name.lower().replace("_", "-"), f"fake-noimport-{name.lower()}")
    environment = {key: value for key, value in os.environ.items() if "PREFECT" not in key}
    environment.update(
        PREFECT_API_URL=server.api_url,
        PREFECT_HOME=str(tmp_path / "prefect-home"),
        PREFECT_SECRETS_PUSH_INVALIDATION="false",
    )
    [outcome] = run_python(READ, names, environment, tmp_path)
    assert outcome["right"] == len(names)
    assert outcome["prefect imported"] is False
