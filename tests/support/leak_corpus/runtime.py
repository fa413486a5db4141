"""What a corpus flow uses inside the flow process: its values, in either mode.

`library` mode obtains every value through prefect-secrets' public API
(`Secret(name).get()`, `SecretTask(name)()`, `with_secrets`); `plain` mode, the
control, obtains the same values as a flow does without the library
(`os.environ`, Prefect's own `Secret.load(block).get()`), so nothing is masked.
prefect-secrets is never imported in plain mode.

Values are never printed by this module: `corpus.ok(label, value)` compares a
SHA-256 digest with the one the harness expects and records whether the task
received the real value.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.support.leak_corpus.values import canonical_digest

__all__ = ["IMPLEMENTATIONS", "Ref", "corpus", "implements", "resolve"]

ENV_PREFIX = "PREFECT__CONTEXT__SECRETS__"
#: The spec's digest of a value minted during the run (a token): unknown beforehand, so
#: `ok` records the digests received, and the harness checks them after the run.
MINTED = "minted"

IMPLEMENTATIONS: dict[str, Callable[[Corpus], None]] = {}


def implements(name: str) -> Callable[[Callable[[Corpus], None]], Callable[[Corpus], None]]:
    """Register the function that runs pathway `name` (see catalog.py)."""

    def register(fn: Callable[[Corpus], None]) -> Callable[[Corpus], None]:
        IMPLEMENTATIONS[name] = fn
        return fn

    return register


def block_name(name: str) -> str:
    """The Prefect block name of a secret name (the README's rule)."""
    return name.lower().replace("_", "-")


@dataclass(frozen=True)
class Ref:
    """How to obtain one value, without the value: picklable, for process-pool workers."""

    mode: str
    name: str
    source: str  # "env" | "block"
    digest: str


def _decode(text: str) -> Any:
    # As Prefect's Secret block and prefect-secrets do: JSON when it parses, else the text.
    try:
        return json.loads(text)
    except ValueError:
        return text


def resolve(ref: Ref) -> Any:
    """The value, obtained as the mode says (usable in any process)."""
    if ref.mode == "library":
        from prefect_secrets import Secret

        return Secret(ref.name).get()
    if ref.source == "block":
        from prefect.blocks.system import Secret as SecretBlock

        return SecretBlock.load(block_name(ref.name)).get()
    return _decode(os.environ[ENV_PREFIX + ref.name])


def digest_of(value: Any) -> str:
    return canonical_digest(value)


class Corpus:
    """The running pathway's values and notes (one pathway at a time per process)."""

    def __init__(self, mode: str, spec: dict[str, Any]) -> None:
        self.mode = mode
        self.spec = spec  # pathway name -> {"secrets": {label: {...}}, "tag": ...}
        self.pathway = ""
        self._lock = threading.Lock()
        self.results: dict[str, dict[str, Any]] = {}

    # --- values ------------------------------------------------------------------------------
    def ref(self, label: str) -> Ref:
        secret = self.spec[self.pathway]["secrets"][label]
        return Ref(self.mode, secret["name"], secret["source"], secret["digest"])

    def get(self, label: str) -> Any:
        """The value, obtained directly (in a task, a flow, or a hook)."""
        return resolve(self.ref(label))

    def task(self, label: str) -> Any:
        """The value, obtained by a task of the running flow, as a flow passes it on."""
        ref = self.ref(label)
        if self.mode == "library":
            from prefect_secrets import SecretTask

            return SecretTask(ref.name)()
        return _load_plain(ref)

    def name(self, label: str) -> str:
        return self.ref(label).name

    # --- what the run reports ----------------------------------------------------------------
    def ok(self, label: str, value: Any) -> bool:
        """Whether `value` is the real value of `label` (by digest); recorded for the pathway.
        A `MINTED` value's digest is recorded, for the harness to check after the run."""
        expected = self.ref(label).digest
        if expected == MINTED:
            with self._lock:
                result = self.results.setdefault(self.pathway, {})
                result.setdefault("minted", {}).setdefault(label, []).append(digest_of(value))
            good = isinstance(value, str)
        else:
            good = digest_of(value) == expected
        self.received(good)
        return good

    def received(self, good: bool) -> None:
        with self._lock:
            result = self.results.setdefault(self.pathway, {})
            result["received"] = result.get("received", True) and bool(good)

    def note(self, key: str, value: Any) -> None:
        """Record a JSON-able fact (ids, names, refusals). Never a value."""
        with self._lock:
            self.results.setdefault(self.pathway, {}).setdefault("notes", {})[key] = value

    def refused(self, step: str, exc: BaseException) -> None:
        """A step that stores data raised: recorded by exception type (its message may quote)."""
        with self._lock:
            refusals = self.results.setdefault(self.pathway, {}).setdefault("refused", {})
            refusals[step] = type(exc).__name__


corpus: Corpus = None  # type: ignore[assignment] - set by the runner before any pathway


def _load_plain(ref: Ref) -> Any:
    from prefect import task

    @task(name=f"load-{block_name(ref.name)}")
    def load_secret(ref: Ref) -> Any:
        return resolve(ref)

    return load_secret(ref)
