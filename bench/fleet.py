"""A fleet's cold start against one Prefect server on PostgreSQL: N processes at once, each
resolving 10 secrets, with prefect-secrets and with Prefect's own `Secret.load`.

    python -m bench.fleet                   # alone, from the repository root
    python -m bench.fleet --sizes 8 32      # smaller fleets only

`python -m bench` runs it too. One `prefect server start` (API and services, one process)
on a throwaway PostgreSQL, behind the counting proxy of the tests; 10 `Secret` blocks are
created first. Per fleet size N, one round per side, the sides' order flipped from one N
to the next: N processes (bench/fleet_worker.py) start at once, import their side, wait
on a go-file (the barrier: import is not the secret phase), resolve the 10 secrets,
record their own secret phase (perf_counter around the lookups) and exit.

- ours: `get_many(NAMES)` with `PREFECT_SECRETS_SOURCES=server`;
- prefect: `[Secret.load(name).get() for name in NAMES]`.

The fleet's processes run in a virtual environment built for the run, holding what a flow
run's image holds: this package (`pip install .`) and what it requires, at the versions
installed here, and nothing of the test or bench extras (`--python` names another
interpreter). The difference matters: the test extra's selenium brings trio, which
httpcore imports when it is installed, 0.13 s more CPU in a process's first lookup.

Reported per N and side: the HTTP requests the server got (all of them, through the
proxy), the wall time from go to the last process done, p50 and p99 of the secret phase,
and the CPU seconds the Prefect server process and PostgreSQL used meanwhile (from
/proc: the cost per request behind the README's projection).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.common import Figure
from tests.support.postgres import PostgresServer, find_postgres_bin
from tests.support.servers import CountingProxy, PrefectServer, counting_proxy, free_port

__all__ = ["Round", "fleet_figures", "main"]

ROOT = Path(__file__).resolve().parent.parent
WORKER = Path(__file__).resolve().parent / "fleet_worker.py"
NAMES = [f"FLEET_SECRET_{index:02d}" for index in range(10)]
SIZES = (8, 32, 128)
SIDES = ("ours", "prefect")
#: Shown for information: ours with `import prefect` done before the barrier, as in a flow
#: run (the first server lookup imports Prefect's settings: that import is then paid).
WARM = "ours-prefect-imported"
DATABASE = "prefect"
#: PREFECT_SECRETS_TIMEOUT of the fleet's processes (see run_round).
FLEET_TIMEOUT = "20"
#: Bounds on one round: 128 processes importing Prefect on 2 cores take minutes.
READY_TIMEOUT = 600.0
RUN_TIMEOUT = 900.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Round:
    side: str
    size: int
    requests: int
    #: Seconds from the go-file to the last process done.
    wall: float
    p50: float
    p99: float
    max_phase: float
    #: Median CPU seconds one process used in its secret phase (all its threads).
    phase_cpu: float
    #: CPU seconds used meanwhile by the Prefect server process, and by PostgreSQL.
    server_cpu: float
    postgres_cpu: float
    #: Peak resident memory of the largest worker, MiB.
    worker_rss_mib: float
    requests_by_path: dict[str, int]
    #: Processes that did not get all 10 values (p50/p99 are of the others), and why.
    failed: int
    errors: dict[str, int]


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile: a value some process really took (p99 of 8 is the max)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _cpu_seconds(pid: int, children: bool) -> float:
    """utime + stime of `pid` (+ its reaped children's), from /proc/PID/stat."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    # After the ")": state is field 3 of stat(5), so utime (14) is index 11 here.
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / CLOCK_TICKS


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(child) for child in text.split()]


def postgres_cpu(postgres: PostgresServer) -> float:
    """CPU seconds of the postmaster, its exited backends, and its live backends."""
    pid_file = postgres.data_dir / "postmaster.pid"
    try:
        postmaster = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0
    return _cpu_seconds(postmaster, True) + sum(
        _cpu_seconds(child, False) for child in _children(postmaster)
    )


@contextmanager
def prefect_on_postgres(work_dir: Path) -> Iterator[tuple[PrefectServer, PostgresServer]]:
    """One `prefect server start` (API and services) on a throwaway PostgreSQL."""
    bin_dir = find_postgres_bin()
    if bin_dir is None:
        raise RuntimeError("the fleet benchmark needs PostgreSQL (apt-get install postgresql)")
    postgres = PostgresServer(bin_dir, free_port())
    server: PrefectServer | None = None
    try:
        postgres.start(DATABASE)
        server = PrefectServer(
            home=work_dir / "server",
            port=free_port(),
            env={"PREFECT_API_DATABASE_CONNECTION_URL": postgres.url(DATABASE)},
            # Its first start migrates an empty PostgreSQL database: minutes on 2 busy cores.
            startup_timeout=300,
        )
        server.start()
        yield server, postgres
    finally:
        if server is not None:
            server.stop()
        postgres.stop()


def deployment_python(work_dir: Path) -> str:
    """A venv with this package and its requirements only, pinned to the versions installed
    in this environment (a constraints file: pins apply to what is required, add nothing)."""
    venv = work_dir / "deployment-venv"
    pins = sorted(
        {
            f"{dist.metadata['Name']}=={dist.version}"
            for dist in importlib.metadata.distributions()
            if dist.metadata["Name"] and dist.metadata["Name"].lower() != "prefect-secrets"
        }
    )
    constraints = work_dir / "constraints.txt"
    constraints.write_text("\n".join(pins) + "\n")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = str(venv / "bin" / "python")
    print("  fleet: building the deployment's venv (pip install .) ...", flush=True)
    pip = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    built = subprocess.run(
        [*pip, "-c", str(constraints), str(ROOT)], capture_output=True, text=True, timeout=900
    )
    if built.returncode != 0:
        # pip's own words (package names and versions, no value of any kind).
        raise RuntimeError(f"pip install . into the fleet's venv failed:\n{built.stderr[-3000:]}")
    return python


def describe_python(python: str) -> str:
    code = (
        "import importlib.metadata as m, importlib.util as u\n"
        "print('prefect', m.version('prefect'), '| trio installed:', "
        "u.find_spec('trio') is not None)"
    )
    probe = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=120)
    return probe.stdout.strip() or probe.stderr.strip()[-300:]


def create_blocks(api_url: str, home: Path) -> None:
    """The 10 Secret blocks, written the way users do, in a process of their own (this one
    may already have Prefect's settings pointing elsewhere). Fake values, never shown."""
    code = (
        "import sys, secrets\n"
        "from prefect.blocks.system import Secret\n"
        "for name in sys.argv[1:]:\n"
        "    value = 'fake-fleet-' + secrets.token_hex(16)\n"
        "    Secret(value=value).save(name.lower().replace('_', '-'), overwrite=True)\n"
    )
    env = {**os.environ, "PREFECT_API_URL": api_url, "PREFECT_HOME": str(home)}
    subprocess.run([sys.executable, "-c", code, *NAMES], env=env, check=True, timeout=300)


def run_round(
    side: str,
    size: int,
    proxy: CountingProxy,
    server: PrefectServer,
    postgres: PostgresServer,
    work_dir: Path,
    python: str,
) -> Round:
    directory = work_dir / f"{side}-{size}"
    directory.mkdir()
    env = {
        **os.environ,
        "PREFECT_API_URL": proxy.url + "/api",
        "PREFECT_HOME": str(directory / "home"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SECRETS_SOURCES": "server",
        # No config file: a fleet's processes have none (and must not read the machine's).
        "PREFECT_SECRETS_CONFIG": str(directory / "no-config.toml"),
        "PREFECT_SECRETS_PREFECT1_CONFIG": "",
        # The wait Prefect's own client allows (PREFECT_API_REQUEST_TIMEOUT, 60 s): 20 s x 3
        # attempts. With the default 5 s (15 s in all), 128 processes asking one API process
        # at once on 2 cores give up while the server still works through the queue.
        "PREFECT_SECRETS_TIMEOUT": FLEET_TIMEOUT,
    }
    # The interpreter's own site-packages decide what a process imports, nothing added here.
    for variable in ("PREFECT_SECRETS_CACHE_TTL", "PREFECT_PROFILES_PATH", "PYTHONPATH"):
        env.pop(variable, None)
    log_path = directory / "workers.log"
    processes: list[subprocess.Popen[bytes]] = []
    with open(log_path, "ab") as log:
        for index in range(size):
            processes.append(
                subprocess.Popen(
                    [python, str(WORKER), side, str(directory), str(index), *NAMES],
                    env=env,
                    cwd=directory,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while sum((directory / f"ready-{index}").exists() for index in range(size)) < size:
            if any(process.poll() is not None for process in processes):
                raise RuntimeError(f"a {side} worker exited early:\n{_tail(log_path)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{side} workers not ready in {READY_TIMEOUT} s")
            time.sleep(0.05)
        # Let the last imports' CPU settle before the clock starts.
        time.sleep(1.0)
        assert server.process is not None
        server_before = _cpu_seconds(server.process.pid, True)
        postgres_before = postgres_cpu(postgres)
        proxy.reset()
        go = time.time()
        (directory / "go").touch()
        timed_out = 0
        for process in processes:
            try:
                process.wait(timeout=max(1.0, go + RUN_TIMEOUT - time.time()))
            except subprocess.TimeoutExpired:
                # Not done in RUN_TIMEOUT: a failed process of the fleet, not a failed run.
                process.kill()
                process.wait()
                timed_out += 1
        server_cpu = _cpu_seconds(server.process.pid, True) - server_before
        pg_cpu = postgres_cpu(postgres) - postgres_before
        with proxy.lock:
            by_path = {
                f"{method} {path}": count for (method, path), count in proxy.requests.items()
            }
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    crashed = [
        index
        for index, process in enumerate(processes)
        # -9: killed above, not done in time (counted as failed below).
        if process.returncode not in (0, -9)
    ]
    if crashed:
        raise RuntimeError(f"{len(crashed)} {side} workers crashed:\n{_tail(log_path)}")
    paths = [directory / f"result-{index}.json" for index in range(size)]
    results = [json.loads(path.read_text()) for path in paths if path.exists()]
    good = [result for result in results if result["valid"] == len(NAMES)]
    errors: dict[str, int] = {}
    if timed_out:
        errors[f"not done in {RUN_TIMEOUT:g} s (killed)"] = timed_out
    for result in results:
        if result["valid"] != len(NAMES):
            reason = result.get("error") or f"got {result['valid']} of {len(NAMES)} values"
            errors[reason] = errors.get(reason, 0) + 1
    # No process succeeded: no percentile to give (NaN fails every goal, as it should).
    phases = [float(result["phase"]) for result in good] or [math.nan]
    return Round(
        side=side,
        size=size,
        requests=sum(by_path.values()),
        wall=(RUN_TIMEOUT if timed_out else max(float(result["ended"]) for result in results) - go),
        p50=statistics.median(phases),
        p99=percentile(phases, 0.99),
        max_phase=max(phases),
        phase_cpu=statistics.median([float(result["phase_cpu"]) for result in results] or [0.0]),
        server_cpu=server_cpu,
        postgres_cpu=pg_cpu,
        worker_rss_mib=max(int(result["max_rss_kib"]) for result in results) / 1024,
        requests_by_path=by_path,
        failed=size - len(good),
        errors=errors,
    )


def _tail(path: Path, chars: int = 3000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else ""


def measure(sizes: Sequence[int], warm: bool = True, python: str | None = None) -> list[Round]:
    """Every round: per size, both sides, the order flipped from one size to the next."""
    work_dir = Path(tempfile.mkdtemp(prefix="prefect-secrets-fleet-"))
    rounds: list[Round] = []
    try:
        return _measure(sizes, warm, python or deployment_python(work_dir), work_dir, rounds)
    finally:
        # Workers' homes and results (counts and times only): nothing to keep once printed.
        shutil.rmtree(work_dir, ignore_errors=True)


def _measure(
    sizes: Sequence[int], warm: bool, python: str, work_dir: Path, rounds: list[Round]
) -> list[Round]:
    print(f"  fleet: processes run {python}: {describe_python(python)}", flush=True)
    with prefect_on_postgres(work_dir) as (server, postgres):
        create_blocks(server.api_url, work_dir / "writer-home")
        with counting_proxy(server.origin) as proxy:
            for position, size in enumerate(sizes):
                sides = (*SIDES, WARM) if warm else SIDES
                order = sides if position % 2 == 0 else sides[::-1]
                for side in order:
                    print(f"  fleet: N={size}, {side} ...", flush=True)
                    r = run_round(side, size, proxy, server, postgres, work_dir, python)
                    rounds.append(r)
                    print(
                        f"    {r.requests} requests, go to last done {r.wall:.2f} s, "
                        f"p50 {r.p50 * 1e3:.0f} ms, p99 {r.p99 * 1e3:.0f} ms, "
                        f"{r.failed} failed, server CPU {r.server_cpu:.2f} s, "
                        f"CPU per process phase {r.phase_cpu * 1e3:.0f} ms",
                        flush=True,
                    )
    return rounds


def print_rounds(rounds: Sequence[Round]) -> None:
    print(
        "\n| N | side | server requests | wall, go to last done | p50 secret phase "
        "| p99 secret phase | CPU per process phase | failed | server CPU | PostgreSQL CPU "
        "| requests/s |\n|---|---|---|---|---|---|---|---|---|---|---|"
    )
    for r in rounds:
        print(
            f"| {r.size} | {r.side} | {r.requests} | {r.wall * 1e3:.0f} ms | "
            f"{r.p50 * 1e3:.1f} ms | {r.p99 * 1e3:.1f} ms | {r.phase_cpu * 1e3:.0f} ms | "
            f"{r.failed} | {r.server_cpu:.2f} s | "
            f"{r.postgres_cpu:.2f} s | {r.requests / r.wall:.0f} |"
        )
    for r in rounds:
        for reason, count in r.errors.items():
            print(f"  N={r.size} {r.side}: {count} x {reason}")


def figures_of(rounds: Sequence[Round]) -> list[Figure]:
    by = {(r.side, r.size): r for r in rounds}
    sizes = sorted({r.size for r in rounds})
    figures: list[Figure] = []
    for size in sizes:
        ours, prefect = by[("ours", size)], by[("prefect", size)]
        figures.append(
            Figure(
                f"fleet of {size}: server requests, get_many / Secret.load x 10",
                ours.requests,
                prefect.requests,
                "req",
                ours.requests / prefect.requests,
                f"<= {size} (N)",
                ours.requests <= size and ours.failed == 0,
                note=f"go to last done {ours.wall * 1e3:.0f} ms vs {prefect.wall * 1e3:.0f} ms",
            )
        )
        figures.append(
            Figure(
                f"  fleet of {size}: p50 secret phase, ours / Prefect's",
                ours.p50 * 1e3,
                prefect.p50 * 1e3,
                "ms",
                ours.p50 / prefect.p50,
                "(info)",
                None,
            )
        )
    for size in sizes:
        if (WARM, size) in by:
            warm, prefect = by[(WARM, size)], by[("prefect", size)]
            figures.append(
                Figure(
                    f"  fleet of {size}, Prefect imported first: p50 / p99 secret phase, "
                    "ours / Prefect's",
                    warm.p50 * 1e3,
                    prefect.p50 * 1e3,
                    "ms",
                    warm.p99 / prefect.p99,
                    "(info)",
                    None,
                    note=f"p99 {warm.p99 * 1e3:.1f} ms vs {prefect.p99 * 1e3:.1f} ms: the ratio",
                )
            )
    top, bottom = max(sizes), min(sizes)
    ours_top, prefect_top = by[("ours", top)], by[("prefect", top)]
    figures.append(
        Figure(
            f"fleet of {top}: p99 secret phase, ours / Prefect's",
            ours_top.p99 * 1e3,
            prefect_top.p99 * 1e3,
            "ms",
            ours_top.p99 / prefect_top.p99,
            "<= 0.2",
            ours_top.p99 / prefect_top.p99 <= 0.2 and ours_top.failed == 0,
            note=f"failed processes: {ours_top.failed} vs {prefect_top.failed}",
        )
    )
    if top != bottom:
        ours_bottom, prefect_bottom = by[("ours", bottom)], by[("prefect", bottom)]
        # The cost a process puts on the shared server: requests, and the server's CPU.
        for label, unit, scale, cost in (
            ("server requests", "req", 1.0, lambda r: r.requests / r.size),
            ("server CPU", "ms", 1e3, lambda r: r.server_cpu / r.size),
        ):
            growth = cost(ours_top) / cost(ours_bottom)
            figures.append(
                Figure(
                    f"ours: {label} per process at N={top} / at N={bottom} (flat in N)",
                    cost(ours_top) * scale,
                    cost(ours_bottom) * scale,
                    unit,
                    growth,
                    "<= 1.5",
                    growth <= 1.5 and ours_top.failed == 0,
                    note=f"Prefect's: {cost(prefect_top) / cost(prefect_bottom):.2f}x",
                )
            )
        # The wall time of one process's secret phase grows with N on 2 cores whatever the
        # library does: N processes share them (shown, not a goal).
        figures.append(
            Figure(
                f"  ours: p50 secret phase at N={top} / at N={bottom}",
                ours_top.p50 * 1e3,
                ours_bottom.p50 * 1e3,
                "ms",
                ours_top.p50 / ours_bottom.p50,
                "(info)",
                None,
                note=f"Prefect's: {prefect_top.p50 / prefect_bottom.p50:.2f}x",
            )
        )
    return figures


def fleet_figures(
    sizes: Sequence[int] = SIZES,
    output: Path | None = None,
    warm: bool = True,
    python: str | None = None,
) -> list[Figure]:
    """Measure, print the fleet's own table, optionally write the rounds as JSON."""
    print(f"fleet: {len(NAMES)} secrets, N = {', '.join(map(str, sizes))} ...", flush=True)
    rounds = measure(sizes, warm, python)
    print_rounds(rounds)
    if output is not None:
        output.write_text(json.dumps([asdict(r) for r in rounds], indent=2) + "\n")
    return figures_of(rounds)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fleet", description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--output", default=str(ROOT / "bench" / "fleet-results.json"))
    parser.add_argument(
        "--no-warm", action="store_true", help=f"skip the informational side {WARM!r}"
    )
    parser.add_argument(
        "--python",
        help="the fleet processes' interpreter (default: a venv built for the run with "
        "`pip install .`, as a deployment has)",
    )
    args = parser.parse_args(argv)
    figures = fleet_figures(
        args.sizes, Path(args.output), warm=not args.no_warm, python=args.python
    )
    print("\n| figure | ours | anchor | ratio | goal | met |\n|---|---|---|---|---|---|")
    for f in figures:
        note = f" ({f.note})" if f.note else ""
        met = "-" if f.met is None else "yes" if f.met else "**no**"
        print(
            f"| {f.figure}{note} | {f.ours:.3g} {f.unit} | {f.anchor:.3g} {f.unit} "
            f"| {f.ratio:.3g} | {f.goal} | {met} |"
        )
    print(f"\nwritten: {args.output}")
    return 0 if all(f.met is not False for f in figures) else 1


if __name__ == "__main__":
    sys.exit(main())
