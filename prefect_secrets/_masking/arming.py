"""Arming: plugging masking into logging and Prefect once the first value is handed out.

At once for the modules already imported, and through a `sys.meta_path`
watcher for the others, so that a value read before `import prefect` is
masked once Prefect is loaded. `import prefect_secrets` alone touches
nothing; neither does a lookup that hands out nothing.
"""

from __future__ import annotations

import sys

from prefect_secrets._core import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from importlib.machinery import ModuleSpec
    from types import ModuleType
    from typing import Any

__all__ = ["HOOK_POINTS", "arm"]

# Module -> the functions ("module:function" in this package) that plug masking into
# it, run right after the module is imported (or at once if it already is). Each
# module of this package says why its hook point is the right one.
HOOK_POINTS: dict[str, tuple[str, ...]] = {
    "sys": ("streams:install_stream_hooks",),
    "subprocess": ("children:install_child_output_hooks",),
    "logging": ("records:install_logging_hooks",),
    "prefect.logging.configuration": ("records:install_prefect_logging_hooks",),
    "prefect.client.base": ("api:install_http_hooks",),
    "prefect.events.clients": ("events:install_events_hooks",),
    "prefect.utilities.engine": ("truncation:install_truncation_hooks",),
    # ResultRecord lives in prefect._internal.result_records from 3.7 (prefect._result_records
    # before); prefect.results re-exports it on every 3.x, so it is hooked from there too.
    "prefect._internal.result_records": ("results:install_result_record_hooks",),
    "prefect.results": (
        "results:install_result_record_hooks",
        "results:install_result_store_hooks",
    ),
    "prefect.task_worker": ("results:install_task_worker_hooks",),
    "prefect.blocks.core": ("blocks:install_block_hooks",),
    "prefect.utilities.callables": ("workers:install_call_pickling_hooks",),
}


class _ImportWatcher:
    """A `sys.meta_path` finder that runs a hook right after a watched module is executed.

    It finds the module's spec with the other finders, then wraps that spec's
    own loader's `exec_module` (a file loader is created per module, so nothing
    else is affected). Modules imported by other loaders are caught up with at
    the next registration.
    """

    def __init__(self, pending: dict[str, Callable[[ModuleType], None]]) -> None:
        self.pending = pending

    def find_spec(
        self, fullname: str, path: Any = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        hook = self.pending.get(fullname)
        if hook is None:
            return None
        try:
            return self._hooked_spec(fullname, path, target, hook)
        except Exception:  # noqa: BLE001 - see below
            # Never break an import: the module loads without its hook, and the
            # next registration catches up with it.
            return None

    def _hooked_spec(
        self, fullname: str, path: Any, target: Any, hook: Callable[[ModuleType], None]
    ) -> ModuleSpec | None:
        spec = None
        for finder in sys.meta_path:
            find_spec = getattr(finder, "find_spec", None)
            if finder is self or find_spec is None:
                continue
            spec = find_spec(fullname, path, target)
            if spec is not None:
                break
        from importlib.machinery import ExtensionFileLoader, SourceFileLoader, SourcelessFileLoader

        loader = spec.loader if spec is not None else None
        file_loaders = (SourceFileLoader, SourcelessFileLoader, ExtensionFileLoader)
        if isinstance(loader, file_loaders) and self.pending.pop(fullname, None) is not None:
            exec_module = loader.exec_module

            def exec_then_hook(module: ModuleType) -> None:
                exec_module(module)
                hook(module)

            loader.exec_module = exec_then_hook  # type: ignore[method-assign]
        return spec

    def catch_up(self) -> None:
        """Run the hooks of watched modules that got imported some other way."""
        for name in list(self.pending):
            module = sys.modules.get(name)
            if module is not None and self.pending.pop(name, None) is not None:
                _hook(name)(module)


def _hook(module_name: str) -> Callable[[ModuleType], None]:
    def run(module: ModuleType) -> None:
        for target in HOOK_POINTS[module_name]:
            _install(target, module_name, module)

    return run


def _install(target: str, module_name: str, module: ModuleType) -> None:
    try:
        from importlib import import_module

        name, _, function = target.partition(":")
        getattr(import_module(f"prefect_secrets._masking.{name}"), function)(module)
    except Exception as exc:  # noqa: BLE001 - see below
        # Never break the user's import; say loudly that masking is incomplete
        # (tests/test_redaction_hooks.py fails first if Prefect moved a hook point).
        import logging

        logging.getLogger("prefect_secrets").error(
            "prefect-secrets: could not install masking (%s) into %s (%s: %s); "
            "secret values may appear unmasked in its output",
            target,
            module_name,
            type(exc).__name__,
            exc,
        )


def arm() -> Callable[[], None] | None:
    """Plug masking into logging and Prefect: now where imported, on import elsewhere.

    Returns what catches up with watched modules imported by other means (None
    when nothing is left to watch); the registry calls it on later registrations.
    """
    pending: dict[str, Callable[[ModuleType], None]] = {}
    for name in HOOK_POINTS:
        module = sys.modules.get(name)
        if module is not None:
            _hook(name)(module)
        else:
            pending[name] = _hook(name)
    if not pending:
        return None
    watcher = _ImportWatcher(pending)
    sys.meta_path.insert(0, watcher)
    return watcher.catch_up
