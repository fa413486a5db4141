"""The `prefect-secrets` command: manage secrets in the local file and on the Prefect server.

    prefect-secrets set WAREHOUSE_PASSWORD            # hidden prompt, or stdin
    prefect-secrets set WAREHOUSE_PASSWORD --server   # a Prefect Secret block
    prefect-secrets get WAREHOUSE_PASSWORD            # masked; --reveal prints it
    prefect-secrets ls | which NAME | delete NAME | doctor | import | import-prefect1

Built like Prefect's own CLI: cyclopts for parsing, rich for output, one
module per group of commands (`secrets`: set/get/delete, `listing`: ls/which,
`doctor`, `imports`), sharing `output` and `common`. This module is the root
app: it registers the commands and turns every failure into one line and an
exit code. Local commands never import Prefect (about 1.2 s); only server
operations do.

Secrets stay secret: no command prints a value except `get --reveal` (and
`get --reveal --json`). Errors are one line naming the file and line,
variable, setting or server at fault; parse errors that would quote a
command-line token (which may be a value typed in the wrong place) are
reworded so that they do not.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any

import cyclopts
from cyclopts import Parameter

from prefect_secrets._cli import doctor, imports, listing, secrets
from prefect_secrets._cli.output import (
    EXIT_BAD_SETTING,
    EXIT_CODES,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_SOURCE_FAILED,
    EXIT_USAGE,
    CliError,
    out,
    reset_output,
)
from prefect_secrets._core.errors import (
    PrefectSecretsError,
    SecretNotFound,
    SecretSourceError,
    SettingsError,
    UnsupportedBySource,
)
from prefect_secrets._core.version import VERSION

if TYPE_CHECKING:
    from rich.console import Group

__all__ = ["app", "main"]

_EPILOGUE = "Exit codes:\n\n" + "\n".join(f"- {code}: {text}" for code, text in EXIT_CODES.items())

app = cyclopts.App(
    name="prefect-secrets",
    help=(
        "Manage the secrets of Prefect flows: the local TOML file, the Prefect server's "
        "Secret blocks and every other store. Values are never printed, except by "
        "`get --reveal`."
    ),
    help_epilogue=_EPILOGUE,
    version=VERSION,
    version_flags=["--version"],
    help_flags=["--help", "-h"],
    # `--server`, not also `--no-server`: every flag here defaults to off.
    default_parameter=Parameter(negative=(), show_default=False),
)

app.command(secrets.set_secret, name="set")
app.command(secrets.get_secret, name="get")
app.command(listing.list_secrets, name="ls")
app.command(secrets.delete_secret, name="delete")
app.command(listing.which_secret, name="which")
app.command(doctor.doctor, name="doctor")
app.command(imports.import_between, name="import")
app.command(imports.import_prefect1, name="import-prefect1")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line `argv` (default: sys.argv[1:]); returns the exit code."""
    output = reset_output()
    tokens = list(sys.argv[1:] if argv is None else argv)
    try:
        result = app.meta(
            tokens,
            console=output.out,
            error_console=output.err,
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
            out().error(str(exc))
            return exc.code
        except SecretNotFound as exc:
            out().error(str(exc))
            return EXIT_NOT_FOUND
        except SettingsError as exc:
            out().error(str(exc))
            return EXIT_BAD_SETTING
        except SecretSourceError as exc:
            out().error(str(exc))
            return EXIT_SOURCE_FAILED
        except UnsupportedBySource as exc:
            out().error(str(exc))
            return EXIT_USAGE
        except PrefectSecretsError as exc:  # our messages never hold a value
            out().error(str(exc))
            return EXIT_INTERNAL
        except KeyboardInterrupt:
            out().error("interrupted")
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
            out().error(
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
    out().warning(str(message))


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
    out().error(f"{message}. See prefect-secrets --help.")
    from rich.console import Group

    # Printed above as one unwrapped line, like every other error; cyclopts prints
    # what is returned here, and an empty Group prints nothing.
    return Group()
