"""Provider health from the ledger: failure rate and latency per provider and model.

The window is a model's last WINDOW_CALLS finished calls within the last WINDOW_HOURS. Only
outcomes the provider is answerable for count: a prediction that succeeded or failed. A cache
hit made no call, a cancel was ours, a budget refusal never left the machine, and estimates
are not calls. A model is unhealthy when at least MIN_CALLS of its recent calls are known
and FAILURE_THRESHOLD or more of them failed; `model="auto"` then routes around it (it moves
to the end of each scene's chain, still there as a last resort) and says so.
"""

from __future__ import annotations

import datetime as _dt

import pandas as pd

WINDOW_CALLS = 20
WINDOW_HOURS = 24.0
MIN_CALLS = 3
FAILURE_THRESHOLD = 0.5

COLUMNS = ["provider", "model", "calls", "failed", "failure_rate", "latency_median_s",
           "latency_p90_s", "last_call", "last_error", "healthy"]


def health_table(costs: pd.DataFrame, now: _dt.datetime | None = None,
                 window_calls: int = WINDOW_CALLS, window_hours: float = WINDOW_HOURS
                 ) -> pd.DataFrame:
    """One row per provider and model with calls in the window, worst first."""
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
        ok = recent.loc[recent["status"] == "succeeded", "latency_s"]
        rate = len(failed) / len(recent)
        out.append({
            "provider": provider, "model": model, "calls": len(recent), "failed": len(failed),
            "failure_rate": rate,
            "latency_median_s": float(ok.median()) if len(ok) else float("nan"),
            "latency_p90_s": float(ok.quantile(0.9)) if len(ok) else float("nan"),
            "last_call": pd.to_datetime(recent["time"], utc=True).max(),
            "last_error": str(failed["note"].iloc[-1]) if len(failed) else "",
            "healthy": not (len(recent) >= MIN_CALLS and rate >= FAILURE_THRESHOLD),
        })
    df = pd.DataFrame(out, columns=COLUMNS)
    return df.sort_values(["healthy", "failure_rate"], ascending=[True, False],
                          kind="stable").reset_index(drop=True)


def unhealthy_models(costs: pd.DataFrame, now: _dt.datetime | None = None) -> dict[str, str]:
    """Model id -> why it is routed around, e.g. 'failed 3 of its last 3 calls'."""
    df = health_table(costs, now)
    return {r.model: f"failed {r.failed} of its last {r.calls} calls "
                     f"({r.failure_rate:.0%} >= {FAILURE_THRESHOLD:.0%})"
            for r in df.itertuples() if not r.healthy}
