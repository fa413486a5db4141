"""The `prefect-secrets` command: manage secrets in the local file and on the Prefect server.

    prefect-secrets set WAREHOUSE_PASSWORD            # hidden prompt, or stdin
    prefect-secrets set WAREHOUSE_PASSWORD --server   # a Prefect Secret block
    prefect-secrets get WAREHOUSE_PASSWORD            # masked; --reveal prints it
    prefect-secrets ls | which NAME | delete NAME | doctor | import-prefect1

Built like Prefect's own CLI (cyclopts for parsing, rich for output) and the
only module that imports either. Local commands never import Prefect (about
1.2 s); only server operations do.

Secrets stay secret: no command prints a value except `get --reveal` (and
`get --reveal --json`). Errors are one line naming the file and line,
variable, setting or server at fault; parse errors that would quote a
command-line token (which may be a value typed in the wrong place) are
reworded so that they do not.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

import cyclopts
from cyclopts import Parameter

from prefect_secrets import __version__
from prefect_secrets._config import Config
from prefect_secrets._config_file import (
    ConfigDocument,
    ConfigFile,
    config_file,
    config_path,
    insecure_message,
    warn_if_readable_by_others,
)
from prefect_secrets._environ import getenv
from prefect_secrets._errors import (
    PrefectSecretsError,
    SecretNotFound,
    SecretSourceError,
    SettingsError,
)
from prefect_secrets._names import (
    block_name,
    env_var_name,
    parse_block_name,
    validate_name,
    validate_scope,
)
from prefect_secrets._sentinel import MISSING
from prefect_secrets._sources.base import SecretKey

if TYPE_CHECKING:
    from rich.console import Console, Group
    from rich.text import Text

    from prefect_secrets._settings import Settings

__all__ = ["EXIT_CODES", "app", "main"]

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3
EXIT_SOURCE_FAILED = 4
EXIT_BAD_SETTING = 5
EXIT_INTERRUPTED = 130

EXIT_CODES = {
    EXIT_OK: "success",
    EXIT_INTERNAL: "unexpected error (a bug: run again with --debug to see the traceback)",
    EXIT_USAGE: "bad usage: unknown command or option, invalid name, missing or invalid "
    "value, declined confirmation",
    EXIT_NOT_FOUND: "not found: no source has the secret, or it is not where "
    "delete or import-prefect1 looked",
    EXIT_SOURCE_FAILED: "a source failed: config file unreadable or malformed, Prefect "
    "server unreachable, refusing or not configured (doctor: something to fix)",
    EXIT_BAD_SETTING: "a setting is invalid (an env var or the file's [settings])",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C); nothing half-written",
}

_EPILOGUE = "Exit codes:\n\n" + "\n".join(f"- {code}: {text}" for code, text in EXIT_CODES.items())

app = cyclopts.App(
    name="prefect-secrets",
    help=(
        "Manage the secrets of Prefect flows: the local TOML file and the Prefect "
        "server's Secret blocks. Values are never printed, except by `get --reveal`."
    ),
    help_epilogue=_EPILOGUE,
    version=__version__,
    version_flags=["--version"],
    help_flags=["--help", "-h"],
    # `--server`, not also `--no-server`: every flag here defaults to off.
    default_parameter=Parameter(negative=(), show_default=False),
)


class CliError(Exception):
    """A failure to report as one line, with its exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


# ---------------------------------------------------------------------------
# Output


def _is_terminal(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty is not None and isatty())


# Piped output is not wrapped at 80 columns: a wrapped path breaks grep and cut.
_PIPED_WIDTH = 10_000


class Output:
    """stdout for results, stderr for errors, warnings and notes (so pipes get results only)."""

    def __init__(self) -> None:
        from rich.console import Console

        self.out: Console = Console(highlight=False)
        self.err: Console = Console(highlight=False, stderr=True)

    @staticmethod
    def text(message: str, style: str = "") -> Text:
        # Text, not markup: a path or name with "[...]" must print as written.
        from rich.text import Text

        return Text(message, style=style)

    def line(self, text: Text) -> None:
        """One line of results; when piped, not wrapped (a wrapped path breaks grep)."""
        self.out.print(text, soft_wrap=not _is_terminal(sys.stdout))

    def success(self, message: str) -> None:
        self.line(self.text(message, "green"))

    def info(self, message: str, style: str = "") -> None:
        self.line(self.text(message, style))

    def _err_line(self, text: Text) -> None:
        self.err.print(text, soft_wrap=not _is_terminal(sys.stderr))

    def warning(self, message: str) -> None:
        self._err_line(self.text(f"Warning: {message}", "yellow"))

    def note(self, message: str) -> None:
        self._err_line(self.text(f"Note: {message}", "yellow"))

    def error(self, message: str) -> None:
        self._err_line(self.text(f"Error: {message}", "red"))

    def table(self, table: Any) -> None:
        """A rich table; when piped, as wide as its content instead of 80 columns."""
        if _is_terminal(sys.stdout) or os.environ.get("COLUMNS"):
            self.out.print(table)
            return
        from rich.console import Console

        # Console.print(width=) cannot go beyond the console's own width.
        Console(highlight=False, width=_PIPED_WIDTH).print(table)

    def raw(self, text: str) -> None:
        """Print exactly `text` and a newline: values and JSON, never through rich."""
        sys.stdout.write(text + "\n")
        sys.stdout.flush()


_output: Output | None = None


def _out() -> Output:
    global _output
    if _output is None:
        _output = Output()
    return _output


# ---------------------------------------------------------------------------
# Entry point and error handling


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line `argv` (default: sys.argv[1:]); returns the exit code."""
    global _output
    _output = Output()
    tokens = list(sys.argv[1:] if argv is None else argv)
    try:
        result = app.meta(
            tokens,
            console=_output.out,
            error_console=_output.err,
            error_formatter=_usage_error,
            result_action="return_value",
        )
    except SystemExit as exc:  # cyclopts exits 2 on a parse error, 0 after --help
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    return result if isinstance(result, int) else EXIT_OK


@app.meta.default
def _session(
    *tokens: Annotated[str, Parameter(show=False, allow_leading_hyphen=True)],
    debug: Annotated[
        bool, Parameter(help="On an unexpected error, show the Python traceback.")
    ] = False,
) -> int:
    """Run one command, turning every failure into one line and an exit code."""
    import warnings

    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        try:
            result = app(tokens, result_action="return_value")
        except CliError as exc:
            _out().error(str(exc))
            return exc.code
        except SecretNotFound as exc:
            _out().error(str(exc))
            return EXIT_NOT_FOUND
        except SettingsError as exc:
            _out().error(str(exc))
            return EXIT_BAD_SETTING
        except SecretSourceError as exc:
            _out().error(str(exc))
            return EXIT_SOURCE_FAILED
        except PrefectSecretsError as exc:  # our messages never hold a value
            _out().error(str(exc))
            return EXIT_INTERNAL
        except KeyboardInterrupt:
            _out().error("interrupted")
            return EXIT_INTERRUPTED
        except BrokenPipeError:
            # `prefect-secrets ls | head -1`: the reader left; that is not an error.
            _silence_stdout()
            return EXIT_OK
        except Exception as exc:  # noqa: BLE001 - the last line of defence: no traceback
            if debug:
                import traceback

                traceback.print_exc()
            # The type only: an unexpected exception's message may quote data.
            _out().error(
                f"unexpected {type(exc).__name__}"
                + ("" if debug else "; run again with --debug to see the traceback")
            )
            return EXIT_INTERNAL
    return result if isinstance(result, int) else EXIT_OK


def _silence_stdout() -> None:
    # Python flushes stdout at exit and would report the broken pipe again.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    # Warnings (a config file others can read...) as one line, not Python's two.
    _out().warning(str(message))


def _usage_error(error: Exception) -> Group:
    """cyclopts' parse errors as one line that never quotes a token the user typed."""
    from cyclopts.exceptions import CoercionError, UnusedCliTokensError

    if isinstance(error, UnusedCliTokensError):
        count = len(getattr(error, "unused_tokens", ()) or ())
        message = (
            f"{count or 'an'} unexpected argument{'s' if count > 1 else ''} (not shown: "
            "it may be a secret). Values are given with --value, a hidden prompt or stdin"
        )
    elif isinstance(error, CoercionError):
        argument = getattr(error, "argument", None)
        names = getattr(argument, "names", None) or ("an option",)
        message = f"invalid value for {names[0]} (not shown)"
    else:
        message = str(error).rstrip(".")
    _out().error(f"{message}. See prefect-secrets --help.")
    from rich.console import Group

    # Printed above as one unwrapped line, like every other error; cyclopts prints
    # what is returned here, and an empty Group prints nothing.
    return Group()


# ---------------------------------------------------------------------------
# Shared pieces


def _key(name: str) -> SecretKey:
    """The secret's org-wide key, its name checked."""
    try:
        return SecretKey(validate_name(name))
    except ValueError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None


def _scope(
    project: str | None, domain: str | None, org: bool, *, defaults: bool
) -> tuple[str | None, str | None]:
    """The scope a command acts on: --project/--domain, else (with `defaults`) the
    project/domain settings; --org: org-wide whatever the settings say."""
    if org:
        if project or domain:
            raise CliError("--org cannot be combined with --project or --domain", EXIT_USAGE)
        return None, None
    try:
        if project is not None:
            validate_scope(project, what="project")
        if domain is not None:
            validate_scope(domain, what="domain")
    except ValueError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    if defaults:
        settings = _settings()
        project = project if project is not None else settings.project
        domain = domain if domain is not None else settings.domain
    return project, domain


def _lookup_scope(
    project: str | None, domain: str | None, org: bool
) -> tuple[str | None, str | None]:
    """The scope to pass to lookups: None takes the settings' default, "" means none."""
    if org:
        _scope(project, domain, org, defaults=False)  # refuses --org with --project/--domain
        return "", ""
    return _scope(project, domain, org, defaults=False)


def _in_scope(project: str | None, domain: str | None) -> str:
    from prefect_secrets._explain import scope_label

    label = scope_label(project, domain)
    return "" if label == "org" else f" ({label})"


def _type_name(value: Any) -> str:
    kinds = {
        str: "string",
        bool: "boolean",
        int: "integer",
        float: "number",
        dict: "object",
        list: "array",
        type(None): "null",
    }
    return kinds.get(type(value), type(value).__name__)


def _value_text(stored: Any) -> str:
    """A value as printed by `get --reveal`: strings as stored, the rest as JSON."""
    if isinstance(stored, str):
        return stored
    return json.dumps(stored, ensure_ascii=False, default=str)


def _print_json(payload: Any) -> None:
    _out().raw(json.dumps(payload, indent=2, ensure_ascii=False, default=str))


def _settings() -> Settings:
    return Config().settings


def _source_kinds() -> list[str]:
    """The sources' kinds, highest precedence first."""
    from prefect_secrets._resolver import SOURCES

    return [source.kind for source in SOURCES]


def _kinds_above(kind: str) -> list[str]:
    """The sources a lookup asks before `kind`: they shadow what is written there."""
    kinds = _source_kinds()
    return kinds[: kinds.index(kind)]


def _places_having(key: SecretKey, *, kinds: Sequence[str]) -> list[str]:
    """Where the local sources of `kinds` have `key` (best effort, for notes only)."""
    from prefect_secrets._resolver import SOURCES

    config = Config()
    found = []
    for source in SOURCES:
        if source.kind not in kinds or source.kind == "server":
            continue
        try:
            if source.skip_reason(config) is None and source.lookup(key, config) is not MISSING:
                found.append(source.place(key, config))
        except PrefectSecretsError:
            continue  # a broken source is reported by the commands that read it
    return found


def _server_place(
    name: str, api_url: str, project: str | None = None, domain: str | None = None
) -> str:
    return f"Secret block '{block_name(name, project, domain)}' on the Prefect server {api_url}"


def _check_storable(name: str, project: str | None, domain: str | None) -> None:
    from prefect_secrets._names import SCOPED_BLOCK_PREFIX, is_reserved_block_name

    if project is None and domain is None and is_reserved_block_name(name):
        raise CliError(
            f"secret {name!r} cannot be stored on the server: org-wide block names "
            f"starting with {SCOPED_BLOCK_PREFIX!r} are reserved for scoped secrets",
            EXIT_USAGE,
        )


# ---------------------------------------------------------------------------
# Commands

NameArgument = Annotated[
    str, Parameter(help="The secret's name: 1-255 letters, digits, '_' and '-'.")
]
JsonOutput = Annotated[bool, Parameter(name="--json", help="Print JSON, for scripts.")]
ProjectOption = Annotated[
    str | None,
    Parameter(
        name="--project",
        help="The project scope (default: the project setting, PREFECT_SECRETS_PROJECT).",
    ),
]
DomainOption = Annotated[
    str | None,
    Parameter(
        name="--domain",
        help="The domain scope (default: the domain setting, PREFECT_SECRETS_DOMAIN).",
    ),
]
OrgOption = Annotated[
    bool,
    Parameter(name="--org", help="Org-wide, whatever the project/domain settings say."),
]


@app.command(name="set")
def set_secret(
    name: NameArgument,
    /,
    *,
    value: Annotated[
        str | None,
        Parameter(help="The value. Visible in shell history and `ps`: prefer the prompt or stdin."),
    ] = None,
    server: Annotated[
        bool,
        Parameter(
            help="Save it as a Prefect Secret block on the server of PREFECT_API_URL, "
            "not in the local file."
        ),
    ] = False,
    json_value: Annotated[
        bool,
        Parameter(
            name="--json",
            help="The value is JSON: store the object, array, number or boolean it holds "
            "(an inline table in the file).",
        ),
    ] = False,
    project: ProjectOption = None,
    domain: DomainOption = None,
    org: OrgOption = False,
) -> int:
    """Store a secret in the local file (default) or as a Prefect Secret block (--server).

    Without --value, the value is read from a hidden prompt on a terminal, or from
    stdin otherwise (one trailing newline removed), so that it stays out of shell
    history. An existing secret of that name is replaced. The value is never printed.
    With --project/--domain (or those settings) it is stored for that scope only.
    """
    key = _key(name)
    project, domain = _scope(project, domain, org, defaults=True)
    if server:
        from prefect_secrets._server_store import require_api_url, save_secret_block

        _check_storable(key.name, project, domain)
        # Before the prompt: no one should type a secret only to hear there is no server.
        api_url = require_api_url()
    text = _read_value(key.name, value)
    stored: Any = _parse_json(text) if json_value else text
    if server:
        outcome = save_secret_block(key.name, stored, project=project, domain=domain)
        where = _server_place(key.name, api_url, project, domain)
        higher = _kinds_above("server")
    else:
        from prefect_secrets._file_store import UnstorableValueError, write_secrets
        from prefect_secrets._sources.files import table_of

        table = table_of(project, domain)
        try:
            result = write_secrets(config_path(), {key.name: stored}, table=table.split("."))
        except UnstorableValueError as exc:
            raise CliError(str(exc), EXIT_USAGE) from None
        outcome = result.outcomes[key.name]
        where = f"[{table}] of {result.path}"
        higher = _kinds_above("file")
    verb = "Replaced" if outcome == "replaced" else "Saved"
    _out().success(f"{verb} secret {key.name!r}: {where}.")
    if not server:
        _warn_if_shared(result.path)
    for place in _places_having(key, kinds=higher):
        _out().warning(f"lookups of {key.name!r} find {place} first: it shadows what was saved")
    if server and _server_mode() == "never":
        _out().note("the setting server = never: lookups do not ask the Prefect server")
    return EXIT_OK


def _warn_if_shared(path: str) -> None:
    try:
        mode = os.stat(path).st_mode & 0o777
    except OSError:
        return
    if mode & 0o077:
        _out().warning(insecure_message(path, mode))


def _server_mode() -> str | None:
    try:
        return _settings().server
    except PrefectSecretsError:
        return None  # reported by the commands that need the settings


def _read_value(name: str, value: str | None) -> str:
    """The value from --value, a hidden prompt on a terminal, or stdin."""
    if value is not None:
        text = value
    elif sys.stdin is not None and sys.stdin.isatty():
        import getpass

        try:
            text = getpass.getpass(f"Value of secret {name!r} (input hidden): ")
        except EOFError:
            text = ""
    else:
        if sys.stdin is None:
            raise CliError(
                "no value: pass --value, pipe it on stdin, or run in a terminal", EXIT_USAGE
            )
        try:
            text = sys.stdin.buffer.read().decode("utf-8")
        except UnicodeDecodeError:
            raise CliError("the value on stdin is not UTF-8 text", EXIT_USAGE) from None
        # `echo value | prefect-secrets set NAME` adds one newline that is not part of it.
        if text.endswith("\r\n"):
            text = text[:-2]
        elif text.endswith("\n"):
            text = text[:-1]
    if not text:
        raise CliError(
            "the value is empty; nothing was saved (pass --value, pipe it on stdin, or "
            "type it at the prompt)",
            EXIT_USAGE,
        )
    return text


def _parse_json(text: str) -> Any:
    def reject_constant(constant: str) -> Any:
        raise ValueError(f"{constant} is not valid JSON")

    try:
        return json.loads(text, parse_constant=reject_constant)
    except json.JSONDecodeError as exc:
        # exc.msg and the position only: str(exc) is fine too, but never the document.
        raise CliError(
            f"--json: the value is not valid JSON ({exc.msg} at line {exc.lineno}, "
            f"column {exc.colno}); nothing was saved",
            EXIT_USAGE,
        ) from None
    except ValueError as exc:
        raise CliError(f"--json: {exc}; nothing was saved", EXIT_USAGE) from None


@app.command(name="get")
def get_secret(
    name: NameArgument,
    /,
    *,
    reveal: Annotated[
        bool, Parameter(help="Print the value itself (strings as stored, the rest as JSON).")
    ] = False,
    json_output: JsonOutput = False,
    project: ProjectOption = None,
    domain: DomainOption = None,
    org: OrgOption = False,
) -> int:
    """Show whether a secret is set, where it comes from and its type; --reveal prints it.

    Looks where flows look, in the same order and scopes (see `which`).
    """
    from prefect_secrets._explain import scope_label
    from prefect_secrets._resolver import resolve
    from prefect_secrets._values import decode_value

    key = _key(name)
    stored, source, found_key = resolve(key.name, *_lookup_scope(project, domain, org))
    place = source.place(found_key, Config())
    decoded = decode_value(stored)
    if json_output:
        payload: dict[str, Any] = {
            "name": key.name,
            "found": True,
            "source": source.kind,
            "location": place,
            # Unscoped sources (env, mounted files) answer for every scope.
            "scope": scope_label(found_key.project, found_key.domain) if source.scoped else "any",
            "type": _type_name(decoded),
        }
        if reveal:
            payload["value"] = decoded
        _print_json(payload)
    elif reveal:
        _out().raw(_value_text(stored))
    else:
        _out().info(f"{key.name}: ******** ({_type_name(decoded)})", "bold")
        _out().info(f"from {place}")
        _out().info("Use --reveal to print the value.", "dim")
    return EXIT_OK


@dataclass
class _Row:
    name: str
    source: str
    location: str
    # The scope a secret is stored for; None/None for org-wide. Unscoped sources
    # (env, mounted, Prefect 1's file) answer every scope: `anywhere`.
    project: str | None = None
    domain: str | None = None
    anywhere: bool = False
    shadowed: bool = False

    @property
    def scope(self) -> str:
        from prefect_secrets._explain import scope_label

        return "any" if self.anywhere else scope_label(self.project, self.domain)


@dataclass
class _Inventory:
    rows: list[_Row] = field(default_factory=list)
    errors: list[PrefectSecretsError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@app.command(name="ls")
def list_secrets(
    *,
    json_output: JsonOutput = False,
    project: Annotated[
        str | None,
        Parameter(name="--project", help="Only what a lookup in this project can see."),
    ] = None,
    domain: Annotated[
        str | None,
        Parameter(name="--domain", help="Only what a lookup in this domain can see."),
    ] = None,
) -> int:
    """List secret names, their scope and where each is set (env vars, mounted files,
    files, server); never values.

    A name set in several places is listed once per place; the ones a lookup would
    not use are marked shadowed. With --project/--domain, only what a lookup in that
    scope can see (its scopes, most specific first, then org-wide and unscoped sources).
    """
    scope = _scope(project, domain, False, defaults=False)
    inventory = _inventory(scope if (project or domain) else None)
    if json_output:
        _print_json(
            [
                {
                    "name": row.name,
                    "source": row.source,
                    "scope": row.scope,
                    "location": row.location,
                    "shadowed": row.shadowed,
                }
                for row in inventory.rows
            ]
        )
    elif inventory.rows:
        from rich.table import Table

        title = "Secrets" + (_in_scope(*scope) if (project or domain) else "")
        table = Table(title=title, show_header=True)
        table.add_column("Name", style="blue", no_wrap=True)
        table.add_column("Scope", no_wrap=True)
        table.add_column("Source", no_wrap=True)
        table.add_column("Location")
        table.add_column("Status", no_wrap=True)
        for row in inventory.rows:
            status = _out().text("shadowed", "yellow") if row.shadowed else _out().text("in force")
            cells = (row.name, row.scope, row.source, row.location)
            table.add_row(*map(_out().text, cells), status)
        _out().table(table)
    else:
        _out().info("No secrets found.")
    for note in inventory.notes:
        _out().note(note)
    for error in inventory.errors:
        _out().error(str(error))
    if any(isinstance(error, SettingsError) for error in inventory.errors):
        return EXIT_BAD_SETTING
    return EXIT_SOURCE_FAILED if inventory.errors else EXIT_OK


def _inventory(scope: tuple[str | None, str | None] | None) -> _Inventory:
    """Every secret name each source has, in precedence order, with shadowing marked.

    `scope`: keep only what a lookup in that scope sees; None: every scope.
    """
    from prefect_secrets._settings import env_prefix

    inventory = _Inventory()
    config = Config()

    try:
        prefix = env_var_name(env_prefix(), "")
    except SettingsError as exc:
        inventory.errors.append(exc)
    else:
        for variable in sorted(os.environ):
            if variable.startswith(prefix) and _is_valid_name(variable[len(prefix) :]):
                inventory.rows.append(
                    _Row(variable[len(prefix) :], "env", f"env var {variable}", anywhere=True)
                )

    path = config_path()
    settings = None
    try:
        settings = config.settings
        _list_mounted(config, inventory)
        from prefect_secrets._sources.files import table_of

        for (project, domain), secrets in config.document.tables.items():
            location = f"file {path} [{table_of(project, domain)}]"
            for name in secrets:
                inventory.rows.append(_Row(name, "file", location, project, domain))
    except (SecretSourceError, SettingsError) as exc:
        inventory.errors.append(exc)

    if settings is not None:
        _list_prefect1(settings, inventory)
        _list_server(settings, inventory)

    if scope is not None:
        chain = Config().scope_chain(scope[0] or "", scope[1] or "")
        inventory.rows = [
            row for row in inventory.rows if row.anywhere or (row.project, row.domain) in chain
        ]
    _mark_shadowed(inventory.rows, scope)
    return inventory


def _list_mounted(config: Config, inventory: _Inventory) -> None:
    from prefect_secrets._resolver import SOURCES
    from prefect_secrets._sources.mounted import MountedSource

    mounted = next(source for source in SOURCES if isinstance(source, MountedSource))
    for directory in mounted.directories(config):
        try:
            entries = sorted(os.listdir(directory))
        except OSError as exc:
            inventory.errors.append(
                SecretSourceError(
                    f"mounted directory {directory} cannot be listed: {exc.strerror}",
                    source="mounted",
                    place=directory,
                )
            )
            continue
        for entry in entries:
            if _is_valid_name(entry) and os.path.isfile(os.path.join(directory, entry)):
                location = f"mounted file {os.path.join(directory, entry)}"
                inventory.rows.append(_Row(entry, "mounted", location, anywhere=True))


def _list_prefect1(settings: Settings, inventory: _Inventory) -> None:
    if settings.prefect1_config is None:
        return
    path = os.path.expanduser(settings.prefect1_config)
    try:
        document = config_file(path, label="Prefect 1 config file", strict=False).read()
        warn_if_readable_by_others(document, strict=settings.strict_permissions)
    except SecretSourceError as exc:
        inventory.errors.append(exc)
        return
    for name in document.secrets:
        inventory.rows.append(
            _Row(name, "prefect1-file", f"Prefect 1 file {path} [context.secrets]", anywhere=True)
        )


def _list_server(settings: Settings, inventory: _Inventory) -> None:
    from prefect_secrets._sources.server import server_skip_reason

    reason = server_skip_reason(settings)
    if reason is not None:
        inventory.notes.append(f"Prefect server not listed: {reason}")
        return
    from prefect_secrets._server_store import configured_api_url, list_secret_blocks

    api_url = configured_api_url()
    if api_url is None:
        inventory.notes.append(
            "Prefect server not listed: no PREFECT_API_URL is set (ls does not start "
            "Prefect's temporary server)"
        )
        return
    try:
        blocks = list_secret_blocks(api_url)
    except SecretSourceError as exc:
        inventory.errors.append(exc)
        return
    for block in blocks:
        base, project, domain = parse_block_name(block)
        location = f"Prefect server {api_url} Secret block '{block}'"
        inventory.rows.append(_Row(base, "server", location, project, domain))


def _mark_shadowed(rows: list[_Row], scope: tuple[str | None, str | None] | None) -> None:
    """Mark the rows a lookup would not reach because it finds the secret before them.

    Sources count in precedence order; unscoped sources (env, mounted files,
    Prefect 1's file) answer every scope, so they shadow everything after them.
    Listing everything, different scopes are different secrets; listing one
    scope (`scope`), its scopes are searched most specific first, as a lookup
    does. Server rows are block names: `API_KEY` in a file shadows block `api-key`.
    """
    precedence = _source_kinds()
    chain = Config().scope_chain(scope[0] or "", scope[1] or "") if scope is not None else []

    def rank(row: _Row) -> tuple[int, int]:
        depth = 0 if row.anywhere or not chain else chain.index((row.project, row.domain))
        return precedence.index(row.source), depth

    rows.sort(key=lambda row: (row.name.lower(), rank(row)))
    seen_names: set[tuple[str, object]] = set()  # (exact name, scope key) of local rows
    seen_blocks: set[tuple[str, object]] = set()  # (block name, scope key)
    for row in sorted(rows, key=rank):
        if row.anywhere:
            scope_key: object = "*"
        else:
            scope_key = "lookup" if chain else (row.project, row.domain)
        if row.source == "server":
            row.shadowed = any((row.name, key) in seen_blocks for key in (scope_key, "*"))
        else:
            row.shadowed = any((row.name, key) in seen_names for key in (scope_key, "*"))
            seen_names.add((row.name, scope_key))
        seen_blocks.add((block_name(row.name), scope_key))


def _is_valid_name(name: str) -> bool:
    try:
        validate_name(name)
    except ValueError:
        return False
    return True


@app.command(name="delete")
def delete_secret(
    name: NameArgument,
    /,
    *,
    server: Annotated[
        bool, Parameter(help="Delete its Prefect Secret block instead of the file's entry.")
    ] = False,
    yes: Annotated[
        bool, Parameter(name=["--yes", "-y"], help="Do not ask for confirmation on a terminal.")
    ] = False,
    project: ProjectOption = None,
    domain: DomainOption = None,
    org: OrgOption = False,
) -> int:
    """Delete a secret from the local file (default) or its Prefect Secret block (--server),
    in the scope given (--project/--domain, else those settings; --org: org-wide)."""
    key = _key(name)
    project, domain = _scope(project, domain, org, defaults=True)
    if server:
        from prefect_secrets._server_store import delete_secret_block, require_api_url

        _check_storable(key.name, project, domain)
        where = _server_place(key.name, require_api_url(), project, domain)
        _confirm(f"Delete secret {key.name!r} from {where}?", yes)
        deleted = delete_secret_block(key.name, project=project, domain=domain)
        others = [kind for kind in _source_kinds() if kind != "server"]
    else:
        from prefect_secrets._file_store import delete_secret as delete_from_file
        from prefect_secrets._file_store import resolved_path
        from prefect_secrets._sources.files import table_of

        path = resolved_path(config_path())
        table = table_of(project, domain)
        where = f"[{table}] of {path}"
        _confirm(f"Delete secret {key.name!r} from {where}?", yes)
        deleted = delete_from_file(path, key.name, table=table.split("."))
        others = [kind for kind in _source_kinds() if kind != "file"]
    if not deleted:
        raise CliError(f"secret {key.name!r} is not in {where}; nothing deleted", EXIT_NOT_FOUND)
    _out().success(f"Deleted secret {key.name!r} from {where}.")
    for place in _places_having(key, kinds=others):
        _out().note(f"{key.name!r} is still set in {place}")
    return EXIT_OK


def _confirm(question: str, yes: bool) -> None:
    """Ask on a terminal (as `prefect block delete` does); scripts and --yes go ahead."""
    if yes or not (sys.stdin is not None and sys.stdin.isatty() and sys.stdout.isatty()):
        return
    from rich.prompt import Confirm

    if not Confirm.ask(question, console=_out().out, default=False):
        raise CliError("not confirmed; nothing deleted", EXIT_USAGE)


@app.command(name="which")
def which_secret(
    name: NameArgument,
    /,
    *,
    json_output: JsonOutput = False,
    project: ProjectOption = None,
    domain: DomainOption = None,
    org: OrgOption = False,
) -> int:
    """Show every place a lookup of NAME looks, in order, and which one wins; never a value.

    Statuses: found (this one wins), shadowed (has it, but a higher place won), absent,
    not asked (source off), error, not reached (below an error, a lookup stops there).
    Scoped sources (the file, the server) are searched project+domain, project,
    domain, then org-wide.
    """
    from prefect_secrets._explain import explain

    key = _key(name)
    places = explain(key.name, *_lookup_scope(project, domain, org))
    if json_output:
        _print_json(
            [
                {
                    "order": number,
                    "source": place.source,
                    "scope": place.scope,
                    "location": place.location,
                    "status": place.status,
                    "detail": place.detail,
                }
                for number, place in enumerate(places, 1)
            ]
        )
    else:
        from rich.table import Table

        styles = {"found": "bold green", "shadowed": "yellow", "error": "red"}
        table = Table(title=f"Where {key.name} is looked for, in order", show_header=True)
        table.add_column("#", justify="right")
        table.add_column("Status", no_wrap=True)
        table.add_column("Source", no_wrap=True)
        table.add_column("Scope", no_wrap=True)
        table.add_column("Location")
        for number, place in enumerate(places, 1):
            location = place.location + (f"\n{place.detail}" if place.detail else "")
            table.add_row(
                str(number),
                _out().text(place.status, styles.get(place.status, "dim")),
                _out().text(place.source),
                _out().text(place.scope),
                _out().text(location),
            )
        _out().table(table)
        winner = next((place for place in places if place.status == "found"), None)
        shadowed = sum(place.status == "shadowed" for place in places)
        if winner is not None:
            extra = f"; {shadowed} shadowed place{'s' if shadowed > 1 else ''}" if shadowed else ""
            _out().info(f"{key.name} comes from {winner.location}{extra}.", "green")
        elif any(place.status == "error" for place in places):
            _out().info(f"A lookup of {key.name} fails: see the error above.", "red")
        else:
            _out().info(f"No source has {key.name}.", "yellow")
    if any(place.status == "found" for place in places):
        return EXIT_OK
    if any(place.status == "error" for place in places):
        return EXIT_SOURCE_FAILED
    return EXIT_NOT_FOUND


# ---------------------------------------------------------------------------
# doctor


@dataclass
class _Check:
    status: str  # "ok", "warn", "fail", "info"
    message: str
    fix: str = ""
    code: int = EXIT_SOURCE_FAILED


_MARKS = {"ok": ("✓", "green"), "warn": ("!", "yellow"), "fail": ("✗", "red"), "info": ("·", "")}


@app.command(name="doctor")
def doctor() -> int:
    """Check the config file, the settings in force and the Prefect server; say what to fix.

    Exits 0 when nothing needs fixing (warnings included), 5 when a setting is
    invalid, 4 when anything else fails.
    """
    sections: list[tuple[str, list[_Check]]] = []
    document_checks, document = _check_config_file()
    sections.append((f"Config file {config_path()}", document_checks))
    settings_checks, settings = _check_settings(document)
    sections.append(("Settings in force", settings_checks))
    if settings is not None:
        sections.append(("Prefect 1 config file", _check_prefect1(settings)))
        sections.append(("Prefect server", _check_server(settings)))

    out = _out()
    for title, checks in sections:
        out.info(title, "bold")
        for check in checks:
            mark, style = _MARKS[check.status]
            out.line(out.text(f"  {mark} ", style) + out.text(check.message))
            if check.fix:
                out.line(out.text(f"    fix: {check.fix}", "cyan"))
    checks = [check for _, group in sections for check in group]
    failed = [check for check in checks if check.status == "fail"]
    warned = sum(check.status == "warn" for check in checks)
    if failed:
        out.info(f"{len(failed)} problem{'s' if len(failed) > 1 else ''} to fix.", "red")
        return max(check.code for check in failed)
    out.info(
        "Nothing to fix" + (f" ({warned} warning{'s' if warned > 1 else ''})." if warned else "."),
        "green",
    )
    return EXIT_OK


def _check_config_file() -> tuple[list[_Check], Any]:
    path = config_path()
    checks: list[_Check] = []
    try:
        document = ConfigFile(path).read()
    except SecretSourceError as exc:
        checks.append(_Check("fail", str(exc), "correct the file at the place named"))
        return checks, ConfigDocument(path=path, exists=False)
    if not document.exists:
        checks.append(
            _Check(
                "info",
                "does not exist (no local secrets); `prefect-secrets set NAME` creates it "
                "(mode 0600)",
            )
        )
        return checks, document
    checks.append(
        _Check(
            "ok",
            f"parses: {len(document.secrets)} secret(s) in [context.secrets], "
            f"{len(document.settings)} setting(s) in [settings]",
        )
    )
    if document.mode & 0o077:
        strict = _strict_permissions_hint(document)
        checks.append(
            _Check(
                "fail" if strict else "warn",
                f"other users have access to it (mode {document.mode:04o})",
                f"chmod 600 {path}",
            )
        )
    else:
        checks.append(_Check("ok", f"private (mode {document.mode:04o})"))
    return checks, document


def _strict_permissions_hint(document: Any) -> bool:
    from prefect_secrets._settings import load_settings

    try:
        return load_settings(document).strict_permissions
    except SettingsError:
        return False


def _check_settings(document: Any) -> tuple[list[_Check], Settings | None]:
    from prefect_secrets._settings import (
        _ALIAS,
        _ALIAS_ENV_VAR,
        _SPECS,
        ENV_PREFIX_ENV_VAR,
        env_prefix,
        load_settings,
    )

    checks: list[_Check] = []
    try:
        prefix = env_prefix()
        origin = f"env {ENV_PREFIX_ENV_VAR}" if getenv(ENV_PREFIX_ENV_VAR) else "default"
        checks.append(
            _Check("info", f"env var prefix = {prefix} ({origin}): {env_var_name(prefix, 'NAME')}")
        )
    except SettingsError as exc:
        checks.append(_Check("fail", str(exc), f"unset or correct {ENV_PREFIX_ENV_VAR}", 5))
    try:
        settings = load_settings(document)
    except SettingsError as exc:
        checks.append(_Check("fail", str(exc), "correct the env var or line named", 5))
        return checks, None
    for name, spec in _SPECS.items():
        shown = getattr(settings, name)
        if name == "prefect1_config" and shown is None:
            shown = '"" (off)'
        if getenv(spec.env_var) is not None:
            origin = f"env {spec.env_var}"
        elif name in document.settings:
            origin = document.where("settings", name)
        elif name == "server" and getenv(_ALIAS_ENV_VAR) is not None:
            origin = f"env {_ALIAS_ENV_VAR}"
        elif name == "server" and _ALIAS in document.settings:
            origin = f"{document.where('settings', _ALIAS)} ({_ALIAS})"
        else:
            origin = "default"
        checks.append(_Check("info", f"{name} = {shown!r} ({origin})"))
    return checks, settings


def _check_prefect1(settings: Settings) -> list[_Check]:
    if settings.prefect1_config is None:
        return [_Check("info", 'not read (prefect1_config = "")')]
    path = os.path.expanduser(settings.prefect1_config)
    try:
        document = ConfigFile(path, label="Prefect 1 config file", strict=False).read()
    except SecretSourceError as exc:
        return [_Check("fail", str(exc), 'correct it, or set prefect1_config = "" to skip it')]
    if not document.exists:
        return [_Check("info", f"{path}: none (nothing to read)")]
    checks = [_Check("ok", f"{path}: {len(document.secrets)} secret(s) in [context.secrets]")]
    if document.secrets:
        checks.append(
            _Check(
                "info",
                "still read below the new file; copy them with "
                "`prefect-secrets import-prefect1 --apply`",
            )
        )
    if document.mode & 0o077:
        checks.append(
            _Check(
                "fail" if settings.strict_permissions else "warn",
                f"other users have access to it (mode {document.mode:04o})",
                f"chmod 600 {path}",
            )
        )
    return checks


_ENCRYPTION_NOTE = (
    "a self-hosted Prefect server encrypts block data with a key it keeps in its own "
    "database, unless PREFECT_SERVER_ENCRYPTION_KEY is set in the server's environment: "
    "a copy of that database (a backup) is enough to read every secret"
)
_ENCRYPTION_FIX = (
    "set PREFECT_SERVER_ENCRYPTION_KEY to a Fernet key (python -c 'from cryptography.fernet "
    "import Fernet; print(Fernet.generate_key().decode())'), kept apart from the database "
    "backups, then re-save existing secrets (prefect-secrets set --server NAME): blocks "
    "saved under the old key cannot be read under the new one"
)


def _check_server(settings: Settings) -> list[_Check]:
    from prefect_secrets._sources.server import server_skip_reason

    reason = server_skip_reason(settings)
    if reason is not None:
        return [_Check("info", f"not asked by lookups: {reason}")]
    from prefect_secrets._server_client import client_for, current_endpoint
    from prefect_secrets._server_store import configured_api_url

    api_url = configured_api_url()
    if api_url is None:
        return [
            _Check(
                "warn",
                "server = always but no PREFECT_API_URL: lookups start Prefect's temporary "
                "server (seconds per process, this machine's database only)",
                "set PREFECT_API_URL to your server's API, or PREFECT_SECRETS_SERVER=auto",
            )
        ]
    checks = [_Check("info", f"asked by lookups (server = {settings.server}): {api_url}")]
    try:
        endpoint = current_endpoint()
        # One real lookup of a block nobody has: proves the URL, credentials and
        # the Secret block route, exactly as `Secret(...).get()` will use them.
        client_for(endpoint).read_secret_block(
            "prefect-secrets-doctor-probe", timeout=settings.timeout, retries=0
        )
    except SecretSourceError as exc:
        checks.append(
            _Check(
                "fail",
                str(exc),
                "start the server, or correct PREFECT_API_URL / PREFECT_API_KEY "
                "(`prefect config view`)",
            )
        )
        return checks
    checks.append(_Check("ok", "reachable; Secret block lookups work"))
    if "api.prefect.cloud" not in api_url:
        if getenv("PREFECT_SERVER_ENCRYPTION_KEY"):
            checks.append(
                _Check(
                    "info",
                    "PREFECT_SERVER_ENCRYPTION_KEY is set in this shell; it protects block "
                    "data only if the server runs with it too",
                )
            )
        else:
            checks.append(_Check("warn", _ENCRYPTION_NOTE, _ENCRYPTION_FIX))
    return checks


# ---------------------------------------------------------------------------
# import-prefect1


@app.command(name="import-prefect1")
def import_prefect1(
    path: Annotated[
        str | None,
        Parameter(
            help="Prefect 1's config file. Default: the prefect1_config setting "
            "(~/.prefect/config.toml)."
        ),
    ] = None,
    /,
    *,
    server: Annotated[
        bool, Parameter(help="Copy into Prefect Secret blocks instead of the local file.")
    ] = False,
    apply: Annotated[
        bool, Parameter(help="Copy for real. Without it, only show what would be done.")
    ] = False,
    overwrite: Annotated[
        bool, Parameter(help="Replace secrets that already exist in the target.")
    ] = False,
) -> int:
    """Copy the [context.secrets] of a Prefect 1 config file into the local file or the server.

    A dry run unless --apply is given; secrets already in the target are kept unless
    --overwrite is given. Reports names only. Values are copied as written: Prefect 1's
    ${...} interpolation and $ENV expansion are not applied.
    """
    source_path = os.path.expanduser(path or _default_prefect1_path())
    document = ConfigFile(source_path, label="Prefect 1 config file", strict=False).read()
    if not document.exists:
        raise CliError(f"no Prefect 1 config file at {source_path}", EXIT_NOT_FOUND)
    secrets = dict(document.secrets)
    if not secrets:
        _out().info(f"{source_path} has no [context.secrets]: nothing to import.")
        return EXIT_OK
    if server:
        rows, code = _import_to_server(secrets, apply=apply, overwrite=overwrite)
        from prefect_secrets._server_store import require_api_url

        target = f"Prefect server {require_api_url()}"
    else:
        rows, code = _import_to_file(secrets, apply=apply, overwrite=overwrite)
        target = f"file {config_path()}"
    from rich.table import Table

    doing = "Copying" if apply else "Dry run: would copy"
    _out().info(f"{doing} the [context.secrets] of {source_path} into the {target}:", "bold")
    table = Table(show_header=True)
    table.add_column("Name", style="blue", no_wrap=True)
    table.add_column("Action")
    for name, action in rows:
        table.add_row(_out().text(name), _out().text(action))
    _out().table(table)
    if not apply:
        _out().info("Dry run: nothing was written. Run again with --apply to copy.", "yellow")
    elif code == EXIT_OK and not server:
        _out().note(
            "lookups still read the Prefect 1 file below this one; once you have checked "
            'the copy, turn it off with prefect1_config = "" in [settings]'
        )
    return code


def _default_prefect1_path() -> str:
    setting = _settings().prefect1_config
    return setting or os.path.join("~", ".prefect", "config.toml")


def _import_to_file(
    secrets: dict[str, Any], *, apply: bool, overwrite: bool
) -> tuple[list[tuple[str, str]], int]:
    from prefect_secrets._file_store import UnstorableValueError, write_secrets

    if apply:
        try:
            result = write_secrets(config_path(), secrets, overwrite=overwrite)
        except UnstorableValueError as exc:
            raise CliError(str(exc), EXIT_USAGE) from None
        labels = {
            "created": "copied",
            "replaced": "copied (replaced)",
            "kept": "skipped: exists (--overwrite)",
        }
        return [(name, labels[result.outcomes[name]]) for name in secrets], EXIT_OK
    existing = ConfigFile(config_path()).read().secrets
    rows = []
    for name in secrets:
        if name not in existing:
            rows.append((name, "would copy"))
        elif overwrite:
            rows.append((name, "would replace"))
        else:
            rows.append((name, "would skip: exists (--overwrite)"))
    return rows, EXIT_OK


def _import_to_server(
    secrets: dict[str, Any], *, apply: bool, overwrite: bool
) -> tuple[list[tuple[str, str]], int]:
    from prefect_secrets._server_store import list_secret_blocks, save_secret_block

    existing = set(list_secret_blocks())
    by_block: dict[str, list[str]] = {}
    for name in secrets:
        by_block.setdefault(block_name(name), []).append(name)
    rows: list[tuple[str, str]] = []
    code = EXIT_OK
    for name, value in secrets.items():
        block = block_name(name)
        if len(by_block[block]) > 1:
            others = ", ".join(other for other in by_block[block] if other != name)
            rows.append((name, f"skipped: {others} also maps to block '{block}'"))
            continue
        exists = block in existing
        if exists and not overwrite:
            rows.append(
                (
                    name,
                    f"{'would skip' if not apply else 'skipped'}: block '{block}' "
                    "exists (--overwrite)",
                )
            )
            continue
        if not apply:
            rows.append((name, f"would {'replace' if exists else 'create'} block '{block}'"))
            continue
        try:
            outcome = save_secret_block(name, value)
        except SecretSourceError as exc:
            rows.append((name, "failed"))
            _out().error(str(exc))
            code = EXIT_SOURCE_FAILED
            continue
        rows.append(
            (name, f"{'replaced' if outcome == 'replaced' else 'copied to'} block '{block}'")
        )
    return rows, code
