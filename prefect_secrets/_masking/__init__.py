"""Masking: every value the library hands out is registered (`registry`) and replaced by
`********` wherever Prefect or Python could write it out (one module per hook point, as
`arming.HOOK_POINTS` lists them, installed by `arming` once the first value is handed
out)."""

from __future__ import annotations

from prefect_secrets._masking import arming, registry

registry.on_first_value(arming.arm)
