"""Result references that hold a secret are dropped, not masked, from the states Prefect
reports.

A state's `data` is where its result was persisted (`ResultRecordMetadata`: a
storage key, a serializer). A `result_storage_key` template can put a secret in
that key; `results` then skips writing the file, and the reference points at
nothing. Masking it would store `********` as the reference, which a later
`state.result()` follows to a file that never existed; dropping it (`data: null`)
says plainly that no result was persisted. Applied to the states sent through the
API (`api`) and in events (`events`), before their text is masked.
"""

from __future__ import annotations

from prefect_secrets._core import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

    from prefect_secrets._masking.matcher import Masker

__all__ = ["without_secret_references"]


def without_secret_references(data: Any, masker: Masker) -> Any:
    """A copy of JSON-like `data` whose state-like dicts have `data: None` where their
    `data` holds a registered value; `data` itself when there is none."""
    if isinstance(data, dict):
        if _is_state(data) and _holds_value(data.get("data"), masker):
            data = {**data, "data": None}
        items = {key: without_secret_references(value, masker) for key, value in data.items()}
        if all(items[key] is value for key, value in data.items()):
            return data
        return items
    if isinstance(data, list):
        leaves = [without_secret_references(leaf, masker) for leaf in data]
        return data if all(a is b for a, b in zip(leaves, data, strict=True)) else leaves
    return data


def _is_state(data: dict[str, Any]) -> bool:
    return "data" in data and "type" in data and ("state_details" in data or "name" in data)


def _holds_value(data: Any, masker: Masker) -> bool:
    if isinstance(data, str):
        return masker.found_in(data)
    if isinstance(data, dict):
        return any(_holds_value(value, masker) for value in data.values())
    if isinstance(data, list):
        return any(_holds_value(value, masker) for value in data)
    return False
