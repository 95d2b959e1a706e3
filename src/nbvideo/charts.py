"""Cost pictures from ledgers: plain matplotlib figures that display inline and save to PNG.

Figures are made with pyplot (so a notebook shows them through its inline backend) and closed
at once, so a cell that returns one shows it exactly once and scripts leak no open figures.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import pandas as pd

from nbvideo.errors import InvalidInput

if TYPE_CHECKING:
    from matplotlib.figure import Figure

BAR_COLOR = "#3b6fb6"
MAX_BARS = 12  # more than this many models or scenes: the rest are summed as "other"


def _pyplot():  # type: ignore[no-untyped-def]
    """pyplot on demand: importing it is slow and only the charts need it. With no display
    matplotlib falls back to Agg by itself; in a kernel it uses the inline backend."""
    import matplotlib.pyplot as plt

    return plt


def actual_spend(costs: pd.DataFrame) -> pd.DataFrame:
    """The rows that cost money: actual calls (estimates are not spend)."""
    if costs.empty:
        return costs
    return costs.loc[costs["kind"] == "actual"]


def _grouped(spend: pd.Series) -> pd.Series:
    spend = spend.sort_values(ascending=False)
    if len(spend) > MAX_BARS:
        rest = float(spend.iloc[MAX_BARS - 1:].sum())
        spend = pd.concat([spend.iloc[: MAX_BARS - 1], pd.Series({"other": rest})])
    return spend.iloc[::-1]  # largest at the top of a horizontal bar chart


def cost_chart(costs: pd.DataFrame, scene_labels: Mapping[str, str] | None = None,
               title: str = "Spend") -> Figure:
    """Spend by phase, by model and by scene, side by side, from a project's ledger."""
    plt = _pyplot()
    spend = actual_spend(costs)
    total = float(spend["cost_usd"].sum()) if not spend.empty else 0.0
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), layout="constrained")
    fig.suptitle(f"{title}: ${total:,.2f} in {len(spend)} calls")
    labels = dict(scene_labels or {})
    views = [
        ("by phase", "phase", lambda k: str(k)),
        ("by model", "model", lambda k: str(k)),
        ("by scene", "scene", lambda k: labels.get(str(k), str(k))),
    ]
    for ax, (name, column, label) in zip(axes, views, strict=True):
        ax.set_title(name)
        if spend.empty or total == 0:
            ax.text(0.5, 0.5, "no spend yet" if spend.empty else "$0: all local or cached",
                    ha="center", va="center", transform=ax.transAxes, color="#666")
            ax.set_axis_off()
            continue
        by = spend.assign(**{column: spend[column].fillna("(project)")}).groupby(column)[
            "cost_usd"].sum()
        by = _grouped(by[by > 0])
        bars = ax.barh([label(k) for k in by.index], by.to_numpy(), color=BAR_COLOR)
        ax.bar_label(bars, labels=[f"${v:,.2f}" for v in by.to_numpy()], padding=3, fontsize=8)
        ax.set_xlabel("USD")
        ax.margins(x=0.25)
        ax.spines[["top", "right"]].set_visible(False)
    plt.close(fig)
    return fig


def spend_over_time(ledgers: Mapping[str, pd.DataFrame], title: str = "Spend over time"
                    ) -> Figure:
    """Cumulative spend of each project (and their total) against time."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 3.8), layout="constrained")
    series = []
    for name, costs in ledgers.items():
        spend = actual_spend(costs)
        spend = spend.loc[spend["cost_usd"] > 0] if not spend.empty else spend
        if spend.empty:
            continue
        s = spend.set_index(pd.to_datetime(spend["time"], utc=True))["cost_usd"].sort_index()
        series.append((name, s))
    total = sum(float(s.sum()) for _, s in series)
    ax.set_title(f"{title}: ${total:,.2f} across {len(ledgers)} project(s)")
    if not series:
        ax.text(0.5, 0.5, "no spend yet", ha="center", va="center", transform=ax.transAxes,
                color="#666")
        ax.set_axis_off()
        plt.close(fig)
        return fig
    end = max(s.index[-1] for _, s in series)

    def curve(s: pd.Series) -> tuple[list, list]:  # type: ignore[type-arg]
        """From $0 just before the first call, flat after the last until the chart ends."""
        cum = s.cumsum()
        return ([s.index[0], *s.index, end], [0.0, *cum.to_numpy(), float(cum.iloc[-1])])

    for name, s in series[:MAX_BARS]:
        ax.step(*curve(s), where="post", label=name, linewidth=1.4)
    if len(series) > 1:
        ax.step(*curve(pd.concat([s for _, s in series]).sort_index()), where="post",
                label="total", color="black", linewidth=2, alpha=0.6)
    ax.set_ylim(bottom=0)
    ax.set_ylabel("USD, cumulative")
    ax.spines[["top", "right"]].set_visible(False)
    if len(series) <= MAX_BARS:
        ax.legend(loc="upper left", fontsize=8, frameon=False)
    else:
        ax.legend(loc="upper left", fontsize=8, frameon=False,
                  title=f"first {MAX_BARS} of {len(series)} projects")
    fig.autofmt_xdate()
    plt.close(fig)
    return fig


STATUS_COLOURS = {"scheduled": "#4c78a8", "uploading": "#b279a2", "processing": "#b279a2",
                  "posted": "#54a24b", "failed": "#e45756", "missed": "#f58518",
                  "canceled": "#9d9d9d"}


def post_calendar(posts: pd.DataFrame, title: str = "Posts") -> Figure:
    """Each post as a dot at its time, a row per platform, coloured by what became of it
    (scheduled, posted, failed, missed...), from `nv.calendar`'s table."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 2.6), layout="constrained")
    counts = posts["status"].value_counts().to_dict() if len(posts) else {}
    said = ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "none yet"
    ax.set_title(f"{title}: {said}")
    if posts.empty:
        ax.text(0.5, 0.5, "nothing scheduled or posted yet", ha="center", va="center",
                transform=ax.transAxes, color="#666")
        ax.set_axis_off()
        plt.close(fig)
        return fig
    platforms = sorted(posts["platform"].unique())
    at = pd.to_datetime(posts["at"], utc=True)
    for status, colour in STATUS_COLOURS.items():
        mine = posts["status"] == status
        if mine.any():
            ax.scatter(at[mine], [platforms.index(p) for p in posts.loc[mine, "platform"]],
                       s=60, color=colour, label=status, zorder=3)
    ax.set_yticks(range(len(platforms)), platforms)
    ax.set_ylim(-0.6, len(platforms) - 0.4)
    ax.grid(axis="x", color="#ddd", zorder=0)
    ax.spines[["top", "right", "left"]].set_visible(False)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    fig.autofmt_xdate()
    plt.close(fig)
    return fig


PERFORMANCE_GROUPS = ("variant", "hook", "market", "aspect", "platform", "project", "package",
                      "duration_s")
PERFORMANCE_METRICS = ("views", "impressions", "watch_time_s", "avg_view_s", "retention",
                       "clicks", "ctr", "likes", "shares", "comments", "spend_usd")
_FRACTIONS = ("retention", "ctr")


def performance_chart(df: pd.DataFrame, by: str = "hook", metric: str = "views") -> Figure:
    """Compare groups of posts from `nv.performance`'s frame: a bar per value of `by`
    (variant, hook, market, aspect, platform, ...) at the mean of `metric` per post that has
    it, labelled with that mean and how many posts it is from. Posts without the number (a
    platform that does not give it: NaN) are left out, never counted as 0.

    >>> import nbvideo as nv
    >>> nv.performance_chart(nv.performance("projects/shoe-campaign"), by="hook")  # doctest: +SKIP
    """
    if by not in PERFORMANCE_GROUPS:
        raise InvalidInput(f"by must be one of {', '.join(PERFORMANCE_GROUPS)}, got {by!r}")
    if metric not in PERFORMANCE_METRICS:
        raise InvalidInput(f"metric must be one of {', '.join(PERFORMANCE_METRICS)}, got "
                           f"{metric!r}")
    if not isinstance(df, pd.DataFrame) or by not in df.columns or metric not in df.columns:
        raise InvalidInput("df must be the frame nv.performance(root) returns (it has the "
                           f"columns {by!r} and {metric!r})")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.6), layout="constrained")
    label = metric.replace("_", " ")
    ax.set_title(f"{label} by {by} (mean per post)")
    rows = df.loc[df[by].notna() & pd.to_numeric(df[metric], errors="coerce").notna()]
    if rows.empty:
        ax.text(0.5, 0.5, f"no {label} numbers by {by} yet", ha="center", va="center",
                transform=ax.transAxes, color="#666")
        ax.set_axis_off()
        plt.close(fig)
        return fig
    values = pd.to_numeric(rows[metric])
    groups = values.groupby(rows[by].astype(str))
    mean, count = groups.mean().sort_values(), groups.size()
    if len(mean) > MAX_BARS:
        mean = mean.iloc[-MAX_BARS:]
    bars = ax.barh(list(mean.index), mean.to_numpy(), color=BAR_COLOR)
    shown = [f"{v:.0%}" if metric in _FRACTIONS else
             f"${v:,.2f}" if metric == "spend_usd" else f"{v:,.1f}" if v < 100 else f"{v:,.0f}"
             for v in mean.to_numpy()]
    ax.bar_label(bars, labels=[f"{s}  (n={count[k]})" for s, k in zip(shown, mean.index,
                                                                       strict=True)],
                 padding=3, fontsize=8)
    ax.set_xlabel(label + (" (0-1)" if metric in _FRACTIONS else ""))
    ax.set_ylabel(by)
    ax.margins(x=0.3)
    ax.spines[["top", "right"]].set_visible(False)
    plt.close(fig)
    return fig
