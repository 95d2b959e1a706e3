"""Model lifecycles: warn before a vendor shuts a model down, refuse it after.

The catalog carries each model's announced shutdown date and its successor. Every way to a
paid call checks here first: the money gate (`Runtime.paid`, and the campaign planner's
gate), the clip routing (`plan/routing.chain_for`, which also leaves retired models out of
"auto" and fallbacks), and choosing models (`providers.resolve_models`, at open and in
`use_models`). A retired model is refused with `ModelRetired` (an `InvalidInput`) that
names the model, the date, the successor and how to switch; nothing is swapped silently,
since a successor bills differently. Under 60 days left is a `ModelRetiring` warning.

The clock is injectable: `today()` is the real (UTC) date unless `frozen(day)` or
`set_clock(fn)` says otherwise, so tests never depend on the day they run.
"""

from __future__ import annotations

import warnings
from datetime import date

from nbvideo.errors import ModelRetired, ModelRetiring
from nbvideo.providers.catalog import (  # the clock and states live with the catalog's data
    WARN_DAYS,
    ModelSpec,
    frozen,
    get_model,
    set_clock,
    status,
    today,
)
from nbvideo.providers.catalog import models as catalog_models

__all__ = ["WARN_DAYS", "check", "frozen", "retired", "set_clock", "status", "today", "usable"]


def retired(spec: ModelSpec, day: date | None = None) -> bool:
    return status(spec, day) == "retired"


def usable(model_ids: list[str], day: date | None = None) -> list[str]:
    """`model_ids` without the retired ones (for "auto" and fallbacks: never route to them)."""
    return [m for m in model_ids if not retired(get_model(m), day)]


def _switch_hint(spec: ModelSpec) -> str:
    """How to move off `spec`: the call to make, with the successor where we serve it."""
    served = {m.id for m in catalog_models(spec.kind)}
    if spec.kind == "audio":
        if spec.successor in served:
            return f"switch with p.finish(voice_model={spec.successor!r})"
        return (f"nbvideo does not serve {spec.successor} (OpenAI's Realtime API) yet; switch "
                f"with p.finish(voice_model='espeak-ng') (offline) or another voice model")
    if spec.successor in served:
        return (f"switch with p.use_models({spec.kind}={spec.successor!r}) (it bills "
                f"differently: check p.estimate())")
    return f"switch with p.use_models({spec.kind}=...) to a model from nv.catalog()"


def _message(spec: ModelSpec, day: date) -> str:
    successor = f"; its successor is {spec.successor}" if spec.successor else ""
    if retired(spec, day):
        return (f"model {spec.id} was shut down by {spec.provider} on {spec.shutdown}"
                f"{successor}: {_switch_hint(spec)}")
    left = (spec.shutdown - day).days  # type: ignore[operator]
    return (f"model {spec.id} shuts down on {spec.shutdown} ({left} days left){successor}: "
            f"{_switch_hint(spec)}")


def check(model: str | ModelSpec, *, day: date | None = None, refuse: bool = True) -> None:
    """Refuse a retired model (`ModelRetired`), warn about one with under 60 days left
    (`ModelRetiring`). `refuse=False` (reopening a project that names one) warns instead,
    so the project still opens and can be switched. A model outside the catalog (one served
    by an OpenAI-compatible server) has no lifecycle here and passes."""
    if isinstance(model, str):
        try:
            spec = get_model(model)
        except Exception:
            return
    else:
        spec = model
    day = day or today()
    state = status(spec, day)
    if state == "active":
        return
    msg = _message(spec, day)
    if state == "retired" and refuse:
        raise ModelRetired(msg, model=spec.id, shutdown=spec.shutdown, successor=spec.successor)
    warnings.warn(msg if state == "retiring" else msg + "; calls with it will be refused",
                  ModelRetiring, stacklevel=3)
