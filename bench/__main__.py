"""The performance goals of prefect-secrets, each measured side by side with its anchor in one run.

    python -m bench                       # from the repository root; about 2 minutes
    python -m bench --output results.json --rounds 15
    python -m bench --fleet-sizes         # without the fleet (bench/fleet.py, minutes more)

Starts a real `prefect server` (SQLite) on 127.0.0.1, measures every figure
below against its anchor in the same process and the same minute
(interleaved rounds, medians: the machines are noisy), prints a table and
writes a JSON file. No figure is a timed test: the suite asserts behaviour,
this reports speed. Then bench/fleet.py: a fleet's cold start (N processes at once)
against a Prefect server on PostgreSQL (needs PostgreSQL installed).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from bench.common import Figure, interleaved, median_per_call
from bench.fleet import SIZES as FLEET_SIZES
from bench.fleet import fleet_figures
from bench.managers import aws_figures
from bench.masking import masking_figures
from bench.rotation import rotation_figures
from tests.support.servers import counting_proxy, start_prefect_server

# `python -m bench` runs from the repository root, which puts it on sys.path:
# the test helpers (tests/support) import as a package, with no path edits.
ROOT = Path(__file__).resolve().parent.parent

ENV_NAME = "BENCH_ENV_SECRET"
FILE_NAME = "BENCH_FILE_SECRET"
FAKE_VALUE = '"fake-bench-value"'


def whole_process(rounds: int) -> Figure:
    def run(code: str) -> float:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        return time.perf_counter() - started

    ours_code = f"import prefect_secrets; prefect_secrets.Secret({ENV_NAME!r}).get()"
    ours, anchor = interleaved(lambda: run(ours_code), lambda: run("import prefect"), rounds)
    ratio = ours / anchor
    return Figure(
        "whole process: import + Secret(X).get() from env / import prefect",
        ours * 1e3,
        anchor * 1e3,
        "ms",
        ratio,
        "<= 0.05",
        ratio <= 0.05,
    )


def warm_get(name: str, label: str, rounds: int, calls: int = 20000) -> list[Figure]:
    import orjson

    from prefect_secrets import Secret

    environ = os.environ
    var = f"PREFECT__CONTEXT__SECRETS__{ENV_NAME}"
    handle = Secret(name)
    floor = lambda: median_per_call(lambda: orjson.loads(environ[var]), calls)  # noqa: E731
    fresh, anchor = interleaved(
        lambda: median_per_call(lambda: Secret(name).get(), calls), floor, rounds
    )
    held, anchor2 = interleaved(lambda: median_per_call(handle.get, calls), floor, rounds)
    return [
        Figure(
            f"warm Secret(X).get() from {label} / orjson.loads(os.environ[...])",
            fresh * 1e6,
            anchor * 1e6,
            "us",
            fresh / anchor,
            "<= 3",
            fresh / anchor <= 3,
        ),
        Figure(
            f"  same, with the Secret handle kept (s.get()) from {label}",
            held * 1e6,
            anchor2 * 1e6,
            "us",
            held / anchor2,
            "(info)",
            None,
        ),
    ]


def server_figures(names: list[str], rounds: int) -> list[Figure]:
    from prefect.blocks.system import Secret as SecretBlock

    from prefect_secrets import Secret
    from prefect_secrets._server.cache import invalidate

    def prefect_load(name: str) -> float:
        started = time.perf_counter()
        SecretBlock.load(name.lower().replace("_", "-")).get()
        return time.perf_counter() - started

    def ours_first(name: str) -> float:
        invalidate()
        started = time.perf_counter()
        Secret(name).get()
        return time.perf_counter() - started

    # Warm both paths (imports, connection pools) before measuring.
    prefect_load(names[0])
    ours_first(names[0])
    first_ours: list[float] = []
    loads: list[float] = []
    for index, name in enumerate(names[1 : 1 + rounds * 2]):
        if index % 2:
            loads.append(prefect_load(name))
            first_ours.append(ours_first(name))
        else:
            first_ours.append(ours_first(name))
            loads.append(prefect_load(name))
    first, load = statistics.median(first_ours), statistics.median(loads)

    cached_name = names[0]
    Secret(cached_name).get()
    cached = statistics.median(
        median_per_call(lambda: Secret(cached_name).get(), 20000) for _ in range(rounds)
    )
    return [
        Figure(
            "first server get of a secret / Prefect's Secret.load(name).get()",
            first * 1e3,
            load * 1e3,
            "ms",
            first / load,
            "<= 0.5",
            first / load <= 0.5,
        ),
        Figure(
            "Prefect's Secret.load(name).get() / cached server get",
            cached * 1e6,
            load * 1e6,
            "us",
            load / cached,
            ">= 1000",
            load / cached >= 1000,
        ),
    ]


def get_many_figure(names: list[str], rounds: int) -> Figure:
    from prefect.blocks.system import Secret as SecretBlock

    from prefect_secrets import get_many
    from prefect_secrets._server.cache import invalidate

    def ours() -> float:
        invalidate()
        started = time.perf_counter()
        assert len(get_many(names)) == len(names)
        return time.perf_counter() - started

    def prefect_200() -> float:
        started = time.perf_counter()
        for name in names:
            SecretBlock.load(name.lower().replace("_", "-")).get()
        return time.perf_counter() - started

    many, loads = interleaved(ours, prefect_200, max(3, rounds // 4))
    return Figure(
        f"{len(names)} x Secret.load(name).get() / get_many({len(names)} names)",
        many * 1e3,
        loads * 1e3,
        "ms",
        loads / many,
        ">= 50",
        loads / many >= 50,
    )


def single_flight_figure(api_url: str, name: str) -> Figure:
    import asyncio
    from urllib.parse import urlsplit

    from prefect.settings import PREFECT_API_URL, temporary_settings

    from prefect_secrets import Secret
    from prefect_secrets._server.cache import invalidate

    origin = "{0.scheme}://{0.netloc}".format(urlsplit(api_url))
    with (
        counting_proxy(origin) as proxy,
        temporary_settings(updates={PREFECT_API_URL: proxy.url + "/api"}),
    ):
        invalidate()

        async def hundred() -> list[object]:
            return await asyncio.gather(*(Secret(name).aget() for _ in range(100)))

        started = time.perf_counter()
        values = asyncio.run(hundred())
        elapsed = time.perf_counter() - started
        requests = proxy.total()
    assert len(values) == 100
    return Figure(
        "100 concurrent aget of one uncached server secret: HTTP requests",
        requests,
        100,
        "requests",
        requests,
        "1 request",
        requests == 1,
        note=f"all 100 answered in {elapsed * 1e3:.1f} ms",
    )


def machine() -> dict[str, object]:
    import prefect

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "prefect": prefect.__version__,
        "date": time.strftime("%Y-%m-%d"),
    }


def print_table(figures: list[Figure]) -> None:
    print("\n| figure | ours | anchor | ratio | goal | met |\n|---|---|---|---|---|---|")
    for f in figures:
        note = f" ({f.note})" if f.note else ""
        ours = f"{f.ours:.3g} {f.unit}" if f.unit != "requests" else f"{f.ours:g}"
        anchor = f"{f.anchor:.3g} {f.unit}" if f.unit != "requests" else "-"
        met = "-" if f.met is None else "yes" if f.met else "**no**"
        print(f"| {f.figure}{note} | {ours} | {anchor} | {f.ratio:.3g} | {f.goal} | {met} |")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--rounds", type=int, default=11, help="interleaved rounds per figure")
    parser.add_argument("--output", default=str(ROOT / "bench" / "results.json"))
    parser.add_argument("--many", type=int, default=200, help="names for the get_many figure")
    parser.add_argument(
        "--fleet-sizes",
        type=int,
        nargs="*",
        default=list(FLEET_SIZES),
        help="fleet sizes for bench/fleet.py (none: skip the fleet)",
    )
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="prefect-secrets-bench-"))
    print(f"starting a Prefect server (PREFECT_HOME={workdir / 'server'}) ...", flush=True)
    server = start_prefect_server(workdir / "server")
    try:
        # Before prefect is imported: it reads its settings once.
        os.environ.update(
            {
                "PREFECT_HOME": str(workdir / "client"),
                "PREFECT_API_URL": server.api_url,
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                "PREFECT_SECRETS_CONFIG": str(workdir / "config.toml"),
                "PREFECT_SECRETS_PREFECT1_CONFIG": "",
                f"PREFECT__CONTEXT__SECRETS__{ENV_NAME}": FAKE_VALUE,
            }
        )
        config = workdir / "config.toml"
        config.write_text(f"[context.secrets]\n{FILE_NAME} = {json.dumps(FAKE_VALUE)}\n")
        config.chmod(0o600)

        from prefect.blocks.system import Secret as SecretBlock

        names = [f"BENCH_SERVER_{index:03d}" for index in range(args.many)]
        print(f"saving {len(names)} Secret blocks ...", flush=True)
        for index, name in enumerate(names):
            SecretBlock(value=f"fake-bench-{index}").save(name.lower().replace("_", "-"))

        figures: list[Figure] = []
        print("measuring ...", flush=True)
        figures.append(whole_process(args.rounds))
        figures += warm_get(ENV_NAME, "env", args.rounds)
        figures += warm_get(FILE_NAME, "the TOML file", args.rounds)
        figures += server_figures(names, args.rounds)
        figures.append(get_many_figure(names, args.rounds))
        figures.append(single_flight_figure(server.api_url, names[-1]))
        figures += masking_figures(max(3, args.rounds // 2))
        figures += aws_figures(max(3, args.rounds // 2))
    finally:
        server.stop()
    figures += rotation_figures()  # its own server, on PostgreSQL
    if args.fleet_sizes:
        # After the SQLite server is gone: the fleet has a PostgreSQL-backed server of its
        # own, and needs both cores.
        fleet_output = Path(args.output).with_name("fleet-results.json")
        figures += fleet_figures(args.fleet_sizes, fleet_output)

    print_table(figures)
    report = {"machine": machine(), "figures": [asdict(f) for f in figures]}
    Path(args.output).write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nmachine: {report['machine']}\nwritten: {args.output}")
    return 0 if all(f.met is not False for f in figures) else 1


if __name__ == "__main__":
    sys.exit(main())
