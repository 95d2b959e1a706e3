"""Provider health from the ledger: failure rate and latency per provider and model.

The window is a model's last WINDOW_CALLS finished calls within the last WINDOW_HOURS. Only
outcomes the provider is answerable for count: a prediction that succeeded or failed. A cache
hit made no call, a cancel was ours, a budget refusal never left the machine, and estimates
are not calls. A model is unhealthy when at least MIN_CALLS of its recent calls are known
and FAILURE_THRESHOLD or more of them failed; `model="auto"` then routes around it (it moves
to the end of each scene's chain, still there as a last resort) and says so.

A model is slow when its recent successful calls took SLOW_FACTOR times what its client
expects of it (`expected`: model id -> seconds for a 5 s clip or one image, the provider's
typical latency; a clip's expectation grows with its paid seconds) in the median, over at
least MIN_SLOW_CALLS calls, and at least SLOW_EXCESS_S longer than expected (so a busy
machine's second or two never counts): a queue at the vendor or a degraded engine. "auto" routes around
a slow model the same way, so a re-cut waits on an engine that answers at its usual pace.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable

import pandas as pd

WINDOW_CALLS = 20
WINDOW_HOURS = 24.0
MIN_CALLS = 3
FAILURE_THRESHOLD = 0.5
SLOW_FACTOR = 2.0
MIN_SLOW_CALLS = 2
SLOW_EXCESS_S = 10.0
CLIP_SECONDS = 5.0  # the clip length a typical latency is quoted for

COLUMNS = ["provider", "model", "calls", "failed", "failure_rate", "latency_median_s",
           "latency_p90_s", "expected_s", "slowness", "last_call", "last_error", "healthy",
           "slow"]

Expected = Callable[[str], float | None]


def _expectation(rows: pd.DataFrame, typical: float | None) -> pd.Series:
    """What each call should have taken: the typical latency, scaled by a clip's seconds."""
    if typical is None or typical <= 0:
        return pd.Series(float("nan"), index=rows.index)
    per = rows["units"].where(rows["unit"] == "second", CLIP_SECONDS) / CLIP_SECONDS
    return typical * per.clip(lower=1.0)


def health_table(costs: pd.DataFrame, now: _dt.datetime | None = None,
                 window_calls: int = WINDOW_CALLS, window_hours: float = WINDOW_HOURS,
                 expected: Expected | None = None) -> pd.DataFrame:
    """One row per provider and model with calls in the window, worst first. With
    `expected`, `slowness` is the median of observed / expected latency (1.0: as usual)."""
    if costs.empty:
        return pd.DataFrame(columns=COLUMNS)
    now = now or _dt.datetime.now(_dt.UTC)
    rows = costs.loc[(costs["kind"] == "actual") & costs["status"].isin(["succeeded", "failed"])
                     & (costs["provider"] != "local") & ~costs["cache_hit"].astype(bool)]
    times = pd.to_datetime(rows["time"], utc=True)
    rows = rows.loc[times >= pd.Timestamp(now) - pd.Timedelta(hours=window_hours)]
    out = []
    for (provider, model), group in rows.groupby(["provider", "model"], sort=False):
        recent = group.sort_values("time").tail(window_calls)
        failed = recent.loc[recent["status"] == "failed"]
        done = recent.loc[recent["status"] == "succeeded"]
        ok = done["latency_s"]
        rate = len(failed) / len(recent)
        want = _expectation(done, expected(model) if expected else None)
        slowness = float((ok / want).median()) if len(ok) and want.notna().all() \
            else float("nan")
        out.append({
            "provider": provider, "model": model, "calls": len(recent), "failed": len(failed),
            "failure_rate": rate,
            "latency_median_s": float(ok.median()) if len(ok) else float("nan"),
            "latency_p90_s": float(ok.quantile(0.9)) if len(ok) else float("nan"),
            "expected_s": float(want.median()) if len(want) else float("nan"),
            "slowness": slowness,
            "last_call": pd.to_datetime(recent["time"], utc=True).max(),
            "last_error": str(failed["note"].iloc[-1]) if len(failed) else "",
            "healthy": not (len(recent) >= MIN_CALLS and rate >= FAILURE_THRESHOLD),
            "slow": bool(len(ok) >= MIN_SLOW_CALLS and slowness >= SLOW_FACTOR
                         and float(ok.median()) - float(want.median()) >= SLOW_EXCESS_S),
        })
    df = pd.DataFrame(out, columns=COLUMNS)
    return df.sort_values(["healthy", "failure_rate"], ascending=[True, False],
                          kind="stable").reset_index(drop=True)


def unhealthy_models(costs: pd.DataFrame, now: _dt.datetime | None = None,
                     expected: Expected | None = None) -> dict[str, str]:
    """Model id -> why it is routed around, e.g. 'failed 3 of its last 3 calls', or with
    `expected`, 'ran 3.0x its usual latency (...)'."""
    df = health_table(costs, now, expected=expected)
    out: dict[str, str] = {}
    for r in df.itertuples():
        if not r.healthy:
            out[str(r.model)] = (f"failed {r.failed} of its last {r.calls} calls "
                                 f"({r.failure_rate:.0%} >= {FAILURE_THRESHOLD:.0%})")
        elif r.slow:
            out[str(r.model)] = (f"ran {r.slowness:.1f}x its usual latency (median "
                                 f"{r.latency_median_s:.3g} s, usually {r.expected_s:.3g} s; "
                                 f">= {SLOW_FACTOR:g}x is slow)")
    return out
