"""The pathways of the leak corpus: what each one does, and what the test expects of it.

Pure data (no Prefect import): the harness reads it in the test process, the
runner (`runner.py`) runs the flow that implements each one (`flows_*.py`).
See /work/scratch/h3/PATHWAYS.md (copied into the corpus README section of
`__init__.py`) for the Prefect code each pathway goes through.

Fields:
- `group`: pathways of one group run in one flow process per mode, with that
  group's settings (`GROUP_ENV`); each pathway has its own flow runs and its
  own values, so every hit is attributable.
- `secrets`: label -> (shape, source). Source `env`: env var
  `PREFECT__CONTEXT__SECRETS__<NAME>` (plain mode reads `os.environ`);
  `block`: a Prefect `Secret` block on the server (plain mode: `Secret.load`).
- `plain_leaks`: whether plain Prefect leaks by construction (the control must
  find it), or the Prefect version from which it does.
- `persists`: what Prefect stores and later hands back (result storage, a
  Variable, a deployment's parameters or job variables, a flow run's
  parameters, a non-Secret block field). Masking there would silently store
  `********` as the value: the library must refuse or skip persistence.
- `reach`: `out` for pathways no in-process masking can reach (documented, not
  asserted for the library).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["GROUP_ENV", "PATHWAYS", "Pathway", "by_name"]


@dataclass(frozen=True)
class Pathway:
    name: str
    group: str
    summary: str
    secrets: dict[str, tuple[str, str]] = field(default_factory=dict)
    plain_leaks: bool | str = True
    persists: str | None = None
    reach: str = "in"


#: Process settings per group (on top of HOME, PREFECT_HOME, PREFECT_API_URL).
GROUP_ENV: dict[str, dict[str, str]] = {
    "default": {},
    "settings": {
        # Prefect's JSON console formatter: every record field, `extra` included.
        "PREFECT_LOGGING_HANDLERS_CONSOLE_FORMATTER": "json",
        "PREFECT_LOGGING_LEVEL": "DEBUG",
        # `Finished in state ...` becomes repr(state), result included.
        "PREFECT_DEBUG_MODE": "true",
        "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "true",
        # APILogHandler truncates longer messages (default 1 MB).
        "PREFECT_LOGGING_TO_API_MAX_LOG_SIZE": "3000",
    },
}

_P = Pathway
PATHWAYS: list[Pathway] = [
    # --- what tests/test_leak.py covers, per pathway ---------------------------------------------
    _P(
        "log_calls",
        "default",
        "logger %s/%r/f-string, root and library loggers, print with log_prints (Secret blocks)",
        {"token": ("jwt", "block"), "password": ("password", "block")},
    ),
    _P(
        "task_exception",
        "default",
        "a task raises RuntimeError(f'auth failed for {token}'); the flow goes on (Secret blocks)",
        {"token": ("jwt", "block")},
    ),
    _P(
        "subflow_params",
        "default",
        "a subflow takes the token and a service-account dict as parameters",
        {"token": ("jwt", "env"), "sa": ("service_account", "env")},
    ),
    # --- escaped copies ---------------------------------------------------------------------------
    _P(
        "escaped_reprs",
        "default",
        "ValueError(f'rejected {creds}') / KeyError(password): Prefect logs {exc!r}, state str()",
        {"password": ("password", "env")},
    ),
    _P(
        "multiline_values",
        "default",
        "a PEM key and a service-account dict in a log line and in an exception's repr",
        {"pem": ("pem", "env"), "sa": ("service_account", "env")},
    ),
    _P(
        "timeout_repr",
        "default",
        "TimeoutError(f'timed out connecting to {dsn}'): 'Task run failed due to timeout: {exc!r}'",
        {"password": ("password", "env")},
    ),
    _P(
        "bytes_repr",
        "default",
        "logger.info('body: %r', f'password={pw}'.encode()): b'...\\xc3\\xa9...'",
        {"password": ("password", "env")},
    ),
    _P(
        "derived_encodings",
        "default",
        "an Authorization: Basic header, a URL-quoted DSN, a hex-encoded token in log lines",
        {"password": ("password", "env"), "token": ("jwt", "env")},
    ),
    _P(
        "http_error_url",
        "default",
        "httpx raise_for_status() with the password in the URL query (percent-encoded)",
        {"password": ("password", "env")},
    ),
    _P(
        "pprint_yaml_wrap",
        "default",
        "pprint.pformat / yaml.safe_dump of a config split the key and token over lines",
        {"sa": ("service_account", "env"), "token": ("jwt", "env")},
    ),
    _P(
        "state_message_truncation",
        "default",
        "a 120 kB exception message: Prefect cuts state messages at 50 kB + 50 kB, mid-key",
        {"pem": ("pem", "env")},
    ),
    _P(
        "pydantic_fragment",
        "default",
        "a pydantic model validated in a task: input_value='eyJ...' keeps 24+23 characters",
        {"token": ("jwt", "env")},
    ),
    _P(
        "flow_param_validation",
        "default",
        "a subflow typed `port: int` is given the token by mistake (ParameterTypeError)",
        {"token": ("jwt", "env")},
    ),
    # --- logging records and their fields ---------------------------------------------------------
    _P(
        "extra_user_handler",
        "default",
        "extra={...} on the user's own logger, with the user's own file handler under HOME",
        {"password": ("password", "env")},
    ),
    _P(
        "substring_in_sql",
        "default",
        "AWS keys inside a longer COPY INTO statement, logged and raised",
        {"key_id": ("aws_key_id", "env"), "secret": ("aws_secret", "env")},
    ),
    _P(
        "dict_as_json",
        "default",
        "a service-account dict logged as json.dumps(sa, indent=2) and str(sa)",
        {"sa": ("service_account", "env")},
    ),
    _P(
        "chained_notes",
        "default",
        "raise RuntimeError(...) from OSError(dsn), with add_note(dsn); logged with traceback",
        {"password": ("password", "env")},
    ),
    _P(
        "runtime_parameters",
        "default",
        "a task logs prefect.runtime.flow_run.parameters of a flow that took the DSN",
        {"password": ("password", "env")},
    ),
    _P(
        "run_names",
        "default",
        "task_run_name='export-{url}' and flow_run_name='sync-{url}' with a token in the URL",
        {"token": ("jwt", "env")},
    ),
    _P(
        "retries",
        "default",
        "a task with retries fails twice with the token in the message, then succeeds",
        {"token": ("jwt", "env")},
    ),
    _P(
        "state_hooks",
        "default",
        "on_failure / on_completion hooks log state.message and the result; a hook raises",
        {"token": ("jwt", "env")},
    ),
    _P(
        "map_submit",
        "default",
        ".map over DSNs and .submit with a token (thread pool)",
        {"password": ("password", "env"), "token": ("jwt", "env")},
    ),
    _P(
        "async_tasks",
        "default",
        "an async flow and async tasks log and raise with the token",
        {"token": ("jwt", "env")},
    ),
    # --- streams that bypass logging --------------------------------------------------------------
    _P(
        "warnings_warn",
        "default",
        "warnings.warn(f'deprecated DSN scheme: {dsn}') in a task",
        {"password": ("password", "env")},
    ),
    _P(
        "print_without_log_prints",
        "default",
        "print(f'connecting to {dsn}') in a task without log_prints",
        {"password": ("password", "env")},
    ),
    _P(
        "traceback_print_exc",
        "default",
        "traceback.print_exc() in a task's except block",
        {"password": ("password", "env")},
    ),
    _P(
        "uncaught_exception",
        "default",
        "the flow raises and nothing catches it: Python prints the traceback (sys.excepthook)",
        {"token": ("jwt", "env")},
        persists="result",
    ),
    # --- what Prefect sends to its API ------------------------------------------------------------
    _P(
        "artifacts",
        "default",
        "markdown, table and link artifacts that show the DSN and a presigned URL",
        {"password": ("password", "env"), "token": ("jwt", "env")},
    ),
    _P(
        "user_events",
        "default",
        "emit_event(...) with the DSN in the resource and a Bearer header in the payload",
        {"password": ("password", "env"), "token": ("jwt", "env")},
    ),
    _P(
        "asset_metadata",
        "default",
        "@materialize(...) with add_asset_metadata({'source': dsn}) (asset events)",
        {"password": ("password", "env")},
    ),
    _P(
        "variable_set",
        "default",
        "Variable.set('warehouse-dsn', dsn) and a dict Variable with the token",
        {"password": ("password", "env"), "token": ("jwt", "env")},
        persists="variable",
    ),
    _P(
        "deployment_params",
        "default",
        "flow.to_deployment(parameters={dsn}, job_variables={env: password}).apply()",
        {"password": ("password", "env"), "token": ("jwt", "env")},
        persists="deployment",
    ),
    _P(
        "run_deployment_params",
        "default",
        "run_deployment(parameters={token}, job_variables={env: token}, timeout=0)",
        {"token": ("jwt", "env")},
        persists="flow_run",
    ),
    _P(
        "block_field",
        "default",
        "a custom block with a plain `dsn: str` field, saved (lifecycle event payload)",
        {"password": ("password", "env")},
        plain_leaks="3.9",
        persists="block",
    ),
    # --- result persistence -----------------------------------------------------------------------
    _P(
        "flow_exception_persisted",
        "default",
        "a flow raises ConnectionError(dsn): Prefect writes the exception to result storage",
        {"password": ("password", "env")},
        persists="result",
    ),
    _P(
        "result_persist_task",
        "default",
        "@task(persist_result=True) returns the DSN",
        {"password": ("password", "env")},
        persists="result",
    ),
    _P(
        "result_cache_inputs",
        "default",
        "@task(cache_policy=INPUTS) takes the token and returns request headers",
        {"token": ("jwt", "env")},
        persists="result",
    ),
    _P(
        "result_json_serializer",
        "default",
        "@task(persist_result=True, result_serializer='json') returns {'dsn': dsn}",
        {"password": ("password", "env")},
        persists="result",
    ),
    _P(
        "result_compressed",
        "default",
        "@task(persist_result=True, result_serializer='compressed/pickle') returns the key",
        {"pem": ("pem", "env")},
        persists="result",
    ),
    _P(
        "result_flow_return",
        "default",
        "@flow(persist_result=True) returns the connection settings",
        {"password": ("password", "env"), "token": ("jwt", "env")},
        persists="result",
    ),
    _P(
        "result_failed_task",
        "default",
        "@task(persist_result=True) fails with the token in its exception (pickled exception)",
        {"token": ("jwt", "env")},
        persists="result",
    ),
    _P(
        "result_storage_key",
        "default",
        "result_storage_key='extract-{parameters[source_url]}' with an API key in the URL",
        {"api_key": ("api_key", "env")},
        persists="result",
    ),
    _P(
        "deferred_task_params",
        "default",
        "task.delay(token) from a flow that took the DSN: parameters and context persisted",
        {"token": ("jwt", "env"), "password": ("password", "env")},
        persists="result",
    ),
    # --- other processes --------------------------------------------------------------------------
    _P(
        "process_pool_worker_resolves",
        "default",
        "ProcessPoolTaskRunner: a task gets the DSN in the worker; the flow logs the result",
        {"password": ("password", "env")},
    ),
    _P(
        "process_pool_worker_logs",
        "default",
        "ProcessPoolTaskRunner: the flow passes the token to a worker task that logs and prints",
        {"token": ("jwt", "env")},
    ),
    _P(
        "env_injection_child_process",
        "default",
        "with_secrets(as_env_var='PGPASSWORD'); a child process echoes it to inherited stdout",
        {"password": ("password", "env")},
    ),
    _P(
        "task_writes_home_file",
        "default",
        "a task writes ~/.pgpass (the user's own file IO)",
        {"password": ("password", "env")},
        reach="out",
    ),
    # --- process settings -------------------------------------------------------------------------
    _P(
        "json_console_extra",
        "settings",
        "JSON console formatter: extra={'conn': {...}} and mapping args reach stderr",
        {"password": ("password", "env")},
    ),
    _P(
        "persist_by_default",
        "settings",
        "PREFECT_RESULTS_PERSIST_BY_DEFAULT=true: a plain task returns the DSN",
        {"password": ("password", "env")},
        persists="result",
    ),
    _P(
        "debug_mode_state_repr",
        "settings",
        "PREFECT_DEBUG_MODE: 'Finished in state Completed(..., result=...)', DEBUG rename logs",
        {"token": ("jwt", "env")},
    ),
    _P(
        "api_log_truncation",
        "settings",
        "a log line over PREFECT_LOGGING_TO_API_MAX_LOG_SIZE is cut mid-key by APILogHandler",
        {"pem": ("pem", "env")},
    ),
]


def by_name() -> dict[str, Pathway]:
    return {p.name: p for p in PATHWAYS}
