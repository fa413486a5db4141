"""`explain(name)`: every place a lookup looks at, and what each holds (never a value).

This is what `prefect-secrets which NAME` prints. Nothing like it exists in
Prefect, Airflow or Flyte; pydantic-settings' debug output shows values.
"""

from __future__ import annotations

from dataclasses import dataclass

from prefect_secrets._config.lookup import SourceConfig
from prefect_secrets._context import HIDDEN
from prefect_secrets._core.errors import SecretSourceError, SettingsError
from prefect_secrets._core.missing import MISSING
from prefect_secrets._resolution.walk import active_sources, keys_for
from prefect_secrets._sources.env import NamedEnvVar
from prefect_secrets.sources import SecretSource

__all__ = ["Place", "explain", "scope_label"]


@dataclass(frozen=True)
class Place:
    """One place a lookup of a secret looks at, and what it found there (never the value)."""

    source: str
    """The source's kind: "context", "env", "mounted", "file", "prefect1-file", "server"..."""
    location: str
    """Where exactly: env var name, file path and table, server URL and block name."""
    status: str
    """"found" (this one wins), "shadowed" (has it, but a higher place won),
    "hidden" (the context hides it: the lookup stops there, "not found"),
    "absent", "not asked" (source off), "error", or "not reached" (below an error)."""
    detail: str = ""
    """The error message when status is "error"."""
    scope: str = "org"
    """"org", or the scope searched: "project=etl", "domain=prod", "project=etl,domain=prod";
    "any" for unscoped sources, which answer for every scope."""

    def __str__(self) -> str:
        detail = f": {self.detail}" if self.detail else ""
        return f"{self.status:<11} {self.source:<13} {self.location}{detail}"


def scope_label(project: str | None, domain: str | None) -> str:
    """ "org", or "project=etl", "domain=prod", "project=etl,domain=prod"."""
    parts = [f"{k}={v}" for k, v in (("project", project), ("domain", domain)) if v]
    return ",".join(parts) or "org"


def explain(
    name: str, project: str | None = None, domain: str | None = None, *, env_var: str | None = None
) -> list[Place]:
    """Every place a lookup of `name` looks at, in order, and what each holds.

    `env_var`: the env var of `Secret(name, env_var=...)`, asked right after the context.

    Unlike a lookup, it goes on past the winner (to show what is shadowed)
    and past a failing source (to show everything), but marks the places a
    real lookup would not have reached.
    """
    config = SourceConfig()
    places: list[Place] = []
    winner_found = failed = False
    try:
        sources = active_sources(config)
    except (SecretSourceError, SettingsError) as exc:
        return [Place("sources", "(see the error)", "error", str(exc))]
    if env_var is not None:
        named: SecretSource = NamedEnvVar(env_var)
        at = 1 if sources and sources[0].kind == "context" else 0
        sources = (*sources[:at], named, *sources[at:])
    for source in sources:
        try:
            keys = keys_for(source, name, project, domain, config)
            if source.skip_reason(config) is not None:
                places.append(Place(source.kind, source.place(keys[-1], config), "not asked"))
                continue
        except (SecretSourceError, SettingsError) as exc:
            places.append(Place(source.kind, "(see the error)", "error", str(exc)))
            failed = True
            continue
        for key in keys:
            scope = scope_label(key.project, key.domain) if source.scoped else "any"
            location = "(see the error)"
            try:
                value = source.lookup(key, config)
                location = source.place(key, config)
            except (SecretSourceError, SettingsError) as exc:
                places.append(Place(source.kind, location, "error", str(exc), scope))
                failed = True
                break
            if value is MISSING:
                status = "absent"
            elif value is HIDDEN:
                status = "not reached" if failed else "hidden"
                winner_found = True  # what follows would be shadowed by it
            elif winner_found:
                status = "shadowed"
            elif failed:
                status = "not reached"
            else:
                status = "found"
                winner_found = True
            places.append(Place(source.kind, location, status, scope=scope))
    return places
