"""The pytest plugin, run as a user's suite runs it (pytester): `fake_secrets` and the marker."""

from __future__ import annotations

import os
import re
import textwrap
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

# Nothing to pass: installing the package registers the plugin (entry point `pytest11`), as
# for users. Naming it with `-p` as well would register it twice (a pytest error).
PLUGIN: tuple[str, ...] = ()


def test_the_plugin_is_registered_by_installing_the_package() -> None:
    from importlib.metadata import entry_points

    found = [ep.value for ep in entry_points(group="pytest11") if ep.name == "prefect_secrets"]
    assert found == ["prefect_secrets.pytest_plugin"]


@pytest.fixture(autouse=True)
def ini(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")


@pytest.fixture
def machine_secrets(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's machine: an env secret, a config file and a Prefect 1 file."""
    monkeypatch.setenv("PREFECT__CONTEXT__SECRETS__DEV_ENV", "fake-dev-env")
    monkeypatch.setenv("PREFECT_SECRETS_SOURCES", "context,env,file,prefect1-file,server")
    config = home / "dev-config.toml"
    config.write_text('[context.secrets]\nDEV_FILE = "fake-dev-file"\n', encoding="utf-8")
    config.chmod(0o600)
    monkeypatch.setenv("PREFECT_SECRETS_CONFIG", str(config))
    prefect1 = home / "prefect1.toml"
    prefect1.write_text('[context.secrets]\nDEV_P1 = "fake-dev-p1"\n', encoding="utf-8")
    prefect1.chmod(0o600)
    monkeypatch.setenv("PREFECT_SECRETS_PREFECT1_CONFIG", str(prefect1))


def test_isolation_set_hide_fail_and_lookups(
    pytester: pytest.Pytester, machine_secrets: None
) -> None:
    pytester.makepyfile(
        textwrap.dedent(
            """
            import pytest
            from prefect_secrets import Secret, SecretSourceError, context

            def test_without_the_fixture_the_machine_is_seen():
                assert Secret("DEV_ENV").get() == "fake-dev-env"
                assert Secret("DEV_FILE").get() == "fake-dev-file"
                assert Secret("DEV_P1").get() == "fake-dev-p1"

            def test_isolated(fake_secrets):
                for name in ("DEV_ENV", "DEV_FILE", "DEV_P1"):
                    assert Secret(name).get(default=None) is None
                fake_secrets.set("API_KEY", "fake-api-key")
                fake_secrets.set("DB", {"user": "fake-user"})
                assert Secret("API_KEY").get() == "fake-api-key"
                assert Secret("DB").get()["user"] == "fake-user"
                fake_secrets.hide("API_KEY")
                assert not Secret("API_KEY").exists()
                fake_secrets.fail("BROKEN")
                with pytest.raises(SecretSourceError):
                    Secret("BROKEN").get()
                fake_secrets.fail("file")
                with pytest.raises(SecretSourceError, match="'file'"):
                    Secret("ANYTHING_ELSE").get()
                assert fake_secrets.lookups[:3] == ["DEV_ENV", "DEV_FILE", "DEV_P1"]
                assert "fake-" not in repr(fake_secrets) + repr(fake_secrets.lookups)

            def test_scoped(fake_secrets):
                fake_secrets.set("WH", "fake-org")
                fake_secrets.set("WH", "fake-etl", project="etl")
                fake_secrets.set("WH", "fake-etl-prod", project="etl", domain="prod")
                assert Secret("WH").get() == "fake-org"
                assert Secret("WH", project="etl").get() == "fake-etl"
                assert Secret("WH", project="etl", domain="prod").get() == "fake-etl-prod"
                assert Secret("WH", project="other").get() == "fake-org"

            def test_after_it_everything_is_back():
                from prefect_secrets._config.lookup import SourceConfig
                from prefect_secrets._sources.registry import source_of_kind

                for kind in ("context", "file"):
                    assert "lookup" not in vars(source_of_kind(kind, SourceConfig()))
                assert dict(context.secrets) == {}
                assert Secret("DEV_ENV").get() == "fake-dev-env"
                assert Secret("API_KEY").get(default=None) is None
            """
        )
    )
    # In a subprocess: the values it hands out would otherwise stay registered for masking
    # in this process, for every later test of the suite.
    result = pytester.runpytest_subprocess(*PLUGIN, "-p", "no:randomly")
    result.assert_outcomes(passed=4)
    assert os.environ["PREFECT_SECRETS_SOURCES"] == "context,env,file,prefect1-file,server"


def test_the_marker(pytester: pytest.Pytester, machine_secrets: None) -> None:
    pytester.makepyfile(
        textwrap.dedent(
            """
            import pytest
            from prefect_secrets import Secret, SecretSourceError

            @pytest.mark.secrets(API_KEY="fake-key", DB={"user": "fake-u"}, hide=["DEV_ENV"])
            def test_marked():
                assert Secret("API_KEY").get() == "fake-key"
                assert Secret("DB").get() == {"user": "fake-u"}
                assert Secret("DEV_FILE").get(default=None) is None

            @pytest.mark.secrets({"hide": "fake-named-hide"}, fail="BROKEN")
            def test_marked_with_a_mapping(fake_secrets):
                assert Secret("hide").get() == "fake-named-hide"
                with pytest.raises(SecretSourceError):
                    Secret("BROKEN").get()

            @pytest.mark.secrets(API_KEY="fake-class-key")
            class TestClass:
                @pytest.mark.secrets(API_KEY="fake-method-key")
                def test_closest_wins(self):
                    assert Secret("API_KEY").get() == "fake-method-key"

            def test_unmarked():
                assert Secret("DEV_ENV").get() == "fake-dev-env"
            """
        )
    )
    result = pytester.runpytest_subprocess(*PLUGIN, "--strict-markers")
    result.assert_outcomes(passed=4)
    result = pytester.runpytest(*PLUGIN, "--markers")
    result.stdout.fnmatch_lines(["*@pytest.mark.secrets(*fake secrets for this test*"])


def test_async_tests(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        textwrap.dedent(
            """
            import asyncio
            import pytest
            from prefect_secrets import Secret

            @pytest.mark.asyncio
            @pytest.mark.secrets(API_KEY="fake-async-key")
            async def test_async(fake_secrets):
                assert await Secret("API_KEY").aget() == "fake-async-key"
                fake_secrets.hide("API_KEY")
                assert await Secret("API_KEY").aget(default=None) is None
                fake_secrets.fail("server")
                fake_secrets.allow_server()
                assert await asyncio.to_thread(Secret("API_KEY").exists) is False
                assert fake_secrets.lookups == ["API_KEY", "API_KEY", "API_KEY"]
            """
        )
    )
    pytester.runpytest_subprocess(*PLUGIN, "-p", "asyncio").assert_outcomes(passed=1)


def test_the_plugin_module_is_light() -> None:
    """Loaded into every pytest run of every user: no Prefect, no HTTP client."""
    import subprocess
    import sys

    code = (
        "import sys, prefect_secrets.pytest_plugin; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('prefect', 'httpx')))"
    )
    shown = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert shown.strip() == "[]"


def test_entry_point_is_declared() -> None:
    import tomllib

    pyproject = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())
    points = pyproject["project"]["entry-points"]["pytest11"]
    assert points == {"prefect_secrets": "prefect_secrets.pytest_plugin"}


def test_xdist(pytester: pytest.Pytester, machine_secrets: None) -> None:
    tests = "\n".join(
        f"""
@pytest.mark.secrets(API_KEY="fake-key-{n}")
def test_{n}(fake_secrets):
    assert Secret("API_KEY").get() == "fake-key-{n}"
    assert Secret("DEV_ENV").get(default=None) is None
    fake_secrets.set("OTHER", "fake-other-{n}")
    assert Secret("OTHER").get() == "fake-other-{n}"
"""
        for n in range(6)
    )
    pytester.makepyfile("import pytest\nfrom prefect_secrets import Secret\n" + tests)
    result = pytester.runpytest_subprocess(*PLUGIN, "-n", "2", "-p", "xdist")
    result.assert_outcomes(passed=6)


def readme_suite() -> dict[str, str]:
    """The README's example suite ("Testing your flows"): {file name: source}."""
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Testing your flows: the pytest plugin", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```py\n(.*?)^```$", section, re.MULTILINE | re.DOTALL)
    return {block.split("\n", 1)[0].removeprefix("# "): block for block in blocks}


def test_prefect_test_harness_and_secret_task(pytester: pytest.Pytester) -> None:
    """The README's suite, and flows run under Prefect's temporary server: they see the
    fakes, in task threads too, and the values are masked in the logs."""
    suite = readme_suite()
    assert sorted(suite) == ["conftest.py", "test_etl.py"]
    for file_name, source in suite.items():
        pytester.path.joinpath(file_name).write_text(source, encoding="utf-8")
    pytester.makepyfile(
        test_threads=textwrap.dedent(
            """
            import pytest
            from prefect import flow, get_run_logger, task
            from prefect_secrets import Secret, SecretTask

            @task
            def use(value):
                get_run_logger().info("using %s", value)
                return value == "fake-flow-key-1234"

            @task
            def read_in_a_thread():
                return Secret("API_KEY").get() == "fake-flow-key-1234"

            @task
            def hidden_in_a_thread():
                return Secret("HIDDEN_ONE").get(default="absent")

            @flow
            def etl():
                key = SecretTask("API_KEY")()
                submitted = read_in_a_thread.submit()
                hidden = hidden_in_a_thread.submit()
                return use(key), submitted.result(), hidden.result()

            @pytest.mark.secrets(API_KEY="fake-flow-key-1234", hide=["HIDDEN_ONE"])
            def test_flow(fake_secrets):
                assert etl() == (True, True, "absent")
                assert "API_KEY" in fake_secrets.lookups

            def test_server_when_allowed(fake_secrets):
                fake_secrets.allow_server()

                @flow
                def asks_the_server():
                    return Secret("NOT_ON_THE_SERVER").get(default="none")

                assert asks_the_server() == "none"
            """
        )
    )
    result = pytester.runpytest_subprocess(*PLUGIN, "-s", "-p", "no:randomly", timeout=300)
    result.assert_outcomes(passed=7)
    output = result.stdout.str() + result.stderr.str()
    assert "fake-flow-key-1234" not in output
    assert "fake-password" not in output
    assert "using ********" in output
