"""A writer killed mid-write leaves the config file whole: the old version or the new one.

Real writer processes (tests/support/crash_writer.py: the library's `write_secrets`,
unchanged) are killed with SIGKILL: at random moments during a stream of
large writes, the moment their temporary file appears, and at chosen points
(stopped with SIGSTOP by an audit hook just before or just after the rename,
then killed). After every kill the file must parse and hold every secret at
one single version, the one before the write or the one it wrote, never a
mix, never half a file, never nothing. The lock a killed writer held must
not block the next writer, and what a killed writer leaves in the directory
(its temporary file, a copy of the secrets) must not be read as the config
nor outlive the next write.
"""

from __future__ import annotations

import os
import random
import select
import signal
import subprocess
import sys
import time
import tomllib
from collections import Counter
from pathlib import Path

import pytest

from prefect_secrets import Secret
from prefect_secrets._config.store import write_secrets
from tests.support.cli import SCRIPT, run_cli
from tests.support.crash_writer import value, values

WRITER = Path(__file__).parent / "support" / "crash_writer.py"
#: 40 secrets of 10 kB: a 400 kB file, whose write and fsync take a while.
COUNT = 40
SIZE = 10_000
#: Writers killed in the random test: half at a random moment, half at the first
#: change a write makes on disk (its temporary file appearing).
KILLS = 24


def start_writer(path: Path, first: int, mode: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WRITER), str(path), str(COUNT), str(SIZE), str(first), mode],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )


def read_line(process: subprocess.Popen[str], timeout: float = 20) -> str:
    """The writer's next line of output, waiting at most `timeout` seconds."""
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    assert ready, f"the writer said nothing in {timeout} s"
    line = process.stdout.readline()
    assert line, f"the writer exited: {process.wait()} {process.stderr and process.stderr.read()}"
    return line.strip()


def kill(process: subprocess.Popen[str]) -> list[str]:
    """SIGKILL the writer; what it had printed."""
    process.send_signal(signal.SIGKILL)
    stdout, stderr = process.communicate(timeout=20)
    assert process.returncode == -signal.SIGKILL, f"the writer failed on its own: {stderr}"
    return stdout.split("\n")


def wait_until_stopped(process: subprocess.Popen[str], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "T":
        assert time.monotonic() < deadline, "the writer did not stop"
        time.sleep(0.005)


def version_in(path: Path) -> int:
    """The one version every secret S_i of the file is at; fails on anything else."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))  # a torn file fails here
    secrets = data["context"]["secrets"]
    versions = set()
    for index in range(COUNT):
        got = secrets[f"S_{index}"]  # a lost secret fails here
        version = int(got.split("-v", 1)[1].split("-", 1)[0])
        assert got == value(index, version, SIZE), f"S_{index} is torn"
        versions.add(version)
    assert len(versions) == 1, f"secrets at different versions: {sorted(versions)}"
    return versions.pop()


def snapshot(path: Path, ignored: set[str]) -> tuple[object, ...]:
    """What a write changes first: new names in the directory, the file's inode and size.
    (The removal of `ignored`, earlier writers' leftovers, is not a change.)"""
    info = path.stat()
    names = tuple(sorted(set(os.listdir(path.parent)) - ignored))
    return (names, info.st_ino, info.st_size, info.st_mtime_ns)


def is_whole(path: Path) -> bool:
    try:
        version_in(path)
    except (AssertionError, tomllib.TOMLDecodeError, KeyError, IndexError, ValueError):
        return False
    return True


def leftovers(path: Path) -> list[str]:
    """Files in the config's directory other than the config and its lock file."""
    return sorted(set(os.listdir(path.parent)) - {path.name, path.name + ".lock"})


def test_writers_killed_at_random_moments_leave_the_old_or_the_new_file(
    default_config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = default_config_path
    write_secrets(str(path), values(COUNT, 1, SIZE))
    outcomes: Counter[str] = Counter()
    mid_write = half_written = completed = 0
    shuffled = random.Random(7)
    began = time.monotonic()
    for kill_number in range(KILLS):
        before = version_in(path)
        earlier = set(leftovers(path))  # what earlier killed writers left, if anything
        writer = start_writer(path, before + 1, "stream")
        assert read_line(writer) == f"start {before + 1}"
        if kill_number % 2:
            time.sleep(shuffled.uniform(0, 0.5))
        else:
            # The first change on disk (its temporary file appearing, or the
            # file itself changing): mid-write.
            unchanged = snapshot(path, earlier)
            deadline = time.monotonic() + 5
            while snapshot(path, earlier) == unchanged and time.monotonic() < deadline:
                pass
        lines = [f"start {before + 1}", *kill(writer)]
        for temporary in set(leftovers(path)) - earlier:
            mid_write += 1
            half_written += not is_whole(path.parent / temporary)
        started = [int(line.split()[1]) for line in lines if line.startswith("start")]
        done = [int(line.split()[1]) for line in lines if line.startswith("done")]
        completed += len(done)
        # The write the kill interrupted: from version `old` to version `new`.
        old, new = max(done, default=before), max(started)
        after = version_in(path)
        assert after in (old, new), (before, done, started, after)
        outcomes["old" if after == old else "new"] += 1
    elapsed = time.monotonic() - began
    # Enough kills landed while a temporary file was being written, and
    # writes completed between kills: the file moved on.
    assert mid_write >= KILLS // 4, mid_write
    assert completed > 0
    assert version_in(path) > 1

    # What users then do: a write, and a lookup. The killed writers' lock
    # does not hold the next one up; their temporary files are gone after it.
    last = version_in(path)
    took = time.monotonic()
    result = run_cli("set", "S_0", "--value", value(0, last + 1, SIZE), "--yes")
    took = time.monotonic() - took
    assert result.code == 0, result.stderr
    assert took < 10
    assert leftovers(path) == []
    assert Secret("S_1").get() == value(1, last, SIZE)
    assert Secret("S_0").get() == value(0, last + 1, SIZE)
    with capsys.disabled():
        print(
            f"\n[crash] {KILLS} writers killed in {elapsed:.1f} s, {completed} writes "
            f"completed between kills; {mid_write} kills left a temporary file ({half_written} "
            f"of them half-written); the write "
            f"a kill interrupted: lost (old file intact) {outcomes['old']} times, landed "
            f"{outcomes['new']} times; file broken or lost 0 times"
        )


def test_a_writer_killed_just_before_its_rename_leaves_the_old_file(
    default_config_path: Path,
) -> None:
    path = default_config_path
    write_secrets(str(path), values(COUNT, 1, SIZE))
    old = path.read_bytes()
    writer = start_writer(path, 2, "before-rename")
    try:
        assert read_line(writer) == "start 2"
        assert read_line(writer) == "stopped"
        wait_until_stopped(writer)
        # The new version is complete on disk, in its temporary file: only the
        # rename is missing. The file is still the old one.
        (temporary,) = leftovers(path)
        assert version_in(path.parent / temporary) == 2
        assert path.read_bytes() == old

        # The stopped writer holds the lock: another writer waits for it...
        other = subprocess.Popen(
            [str(SCRIPT), "set", "OTHER", "--value", "fake-other-value"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(1.0)
        assert other.poll() is None, other.communicate()
        assert path.read_bytes() == old
    finally:
        lines = kill(writer)
    # ...and goes on as soon as it dies: the lock file it leaves blocks nothing.
    assert "done 2" not in lines
    _, stderr = other.communicate(timeout=15)
    assert other.returncode == 0, stderr
    assert version_in(path) == 1
    assert tomllib.loads(path.read_text())["context"]["secrets"]["OTHER"] == "fake-other-value"
    assert leftovers(path) == []
    assert Secret("S_0").get() == value(0, 1, SIZE)


def test_a_writer_killed_just_after_its_rename_leaves_the_new_file(
    default_config_path: Path,
) -> None:
    path = default_config_path
    write_secrets(str(path), values(COUNT, 1, SIZE))
    writer = start_writer(path, 2, "after-rename")
    try:
        assert read_line(writer) == "start 2"
        assert read_line(writer) == "stopped"
        wait_until_stopped(writer)
        assert version_in(path) == 2
        assert leftovers(path) == []
    finally:
        kill(writer)
    assert version_in(path) == 2
    took = time.monotonic()
    write_secrets(str(path), values(COUNT, 3, SIZE))
    assert time.monotonic() - took < 5  # not LOCK_TIMEOUT: the dead writer's lock is free
    assert version_in(path) == 3


def test_a_deleted_secret_leaves_no_copy_behind_after_a_crash(
    default_config_path: Path,
) -> None:
    """A killed writer's temporary file holds every secret: the next write removes it,
    so a secret deleted (or rotated) afterwards is gone from the disk."""
    path = default_config_path
    write_secrets(str(path), values(COUNT, 1, SIZE))
    writer = start_writer(path, 2, "before-rename")
    try:
        assert read_line(writer) == "start 2"
        assert read_line(writer) == "stopped"
        wait_until_stopped(writer)
    finally:
        kill(writer)
    assert len(leftovers(path)) == 1  # the killed writer's temporary file

    result = run_cli("delete", "S_0", "--yes")
    assert result.code == 0, result.stderr
    assert "fake-S_0-" not in result.output
    holding = [
        name
        for name in os.listdir(path.parent)
        if b"fake-S_0-" in (path.parent / name).read_bytes()
    ]
    assert holding == []
    assert leftovers(path) == []
