"""Which variant of a campaign is winning, and how sure we can be: `Campaign.winner()`.

Input is the performance table (`nbvideo.deliver.performance`: one row per post, with the
platform's counts). A variant's posts are added up across platforms (or one platform), then
every variant's metric gets a posterior distribution and the probability that it is the best
is the share of Monte Carlo draws in which it comes out on top (numpy, seeded: the same data
give the same answer). Three kinds of metric, each with the model it honestly allows:

- rates with a count behind both numbers (ctr = clicks / impressions, like/share/comment and
  engagement rates per view): Beta-Binomial, a uniform Beta(1, 1) prior updated with the
  successes and trials;
- per-view averages the platforms report only as an average (retention, avg_view_s): a
  normal approximation of the mean over n views whose per-view spread is unknown, bounded
  by the widest a quantity in [0, U] can have at that mean (variance <= m (U - m),
  Bhatia–Davis), with U = 1 for retention and the ad's length for avg_view_s: conservative,
  it never claims more certainty than the counts allow;
- raw counts (views, clicks, ...) depend on how long and how hard each variant was pushed, so
  they are refused; `views_per_day` compares views over the days since posting with a
  Gamma-Poisson model, which treats views as arriving independently. Platform delivery is
  burstier than that, so its confidence is optimistic; the method text says so.

A leader is always named; it is `decided` only when every compared variant has `min_views`
(impressions for ctr) and the leader's probability of being the best reaches `threshold`.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from nbvideo.errors import InvalidInput

Kind = Literal["rate", "mean", "per-day"]

# metric -> (numerator columns, denominator column); the numerator is summed per row
RATES: dict[str, tuple[tuple[str, ...], str]] = {
    "ctr": (("clicks",), "impressions"),
    "like_rate": (("likes",), "views"),
    "share_rate": (("shares",), "views"),
    "comment_rate": (("comments",), "views"),
    "engagement_rate": (("likes", "shares", "comments"), "views"),
}
MEANS = ("retention", "avg_view_s")
PER_DAY = ("views_per_day",)
METRICS = (*RATES, *MEANS, *PER_DAY)
RAW_COUNTS = ("views", "impressions", "clicks", "likes", "shares", "comments", "watch_time_s",
              "spend_usd")
NEEDED = ("variant", "platform", "views", "impressions", "clicks", "likes", "shares",
          "comments", "retention", "avg_view_s", "duration_s", "posted_at", "fetched_at")


class VariantScore(BaseModel):
    """One variant's line in the comparison."""

    model_config = ConfigDict(extra="forbid")

    variant: str
    hook: str | None = None
    market: str | None = None
    posts: int = 0
    platforms: list[str] = Field(default_factory=list)
    n: float = Field(0.0, description="The evidence: impressions for ctr, else views.")
    successes: float | None = Field(None, description="Clicks, likes, ... (rates only).")
    value: float | None = Field(None, description="The metric as observed (None: no data).")
    low: float | None = Field(None, description="2.5% point of its posterior.")
    high: float | None = Field(None, description="97.5% point of its posterior.")
    p_best: float | None = Field(None, description="Probability that it is the best.")
    note: str = ""


class Winner(BaseModel):
    """The best variant of a campaign on one metric, with the probability that it is the best.

    >>> w = c.winner("ctr")            # doctest: +SKIP
    >>> w                              # doctest: +SKIP
    h2-8s-9x16 wins on ctr (4.1% vs 3.2%), 97% probability it is the best of 4
    >>> w.decided, w.confidence, w.table   # doctest: +SKIP
    """

    model_config = ConfigDict(extra="forbid")

    campaign: str = Field(description="The campaign folder it was computed for.")
    variant: str = Field(description="The leader: highest probability of being the best.")
    metric: str
    value: float
    confidence: float = Field(ge=0, le=1, description="Probability the leader is the best.")
    runner_up: str | None = None
    runner_up_value: float | None = None
    decided: bool = Field(description="Enough views everywhere and confidence >= threshold.")
    reason: str = Field("", description="Why not decided (empty when decided).")
    method: str
    platform: str | None = None
    threshold: float
    min_views: int
    draws: int
    seed: int
    scores: list[VariantScore]
    missing: list[str] = Field(default_factory=list,
                               description="Variants with no usable data for the metric.")

    @property
    def table(self) -> pd.DataFrame:
        """One row per variant, best first: counts, observed value, 95% interval, p_best."""
        cols = list(VariantScore.model_fields)
        return pd.DataFrame([s.model_dump() for s in self.scores], columns=cols)

    @property
    def compared(self) -> int:
        return sum(1 for s in self.scores if s.p_best is not None)

    def sentence(self) -> str:
        """The verdict in words."""
        fmt = lambda v: show(self.metric, v)
        if self.runner_up is None:
            head = (f"{self.variant} leads on {self.metric} ({fmt(self.value)}), the only one "
                    f"of {len(self.scores)} with data")
        else:
            verb = "wins" if self.decided else "leads"
            head = (f"{self.variant} {verb} on {self.metric} ({fmt(self.value)} vs "
                    f"{fmt(self.runner_up_value)}), {percent(self.confidence)} probability it "
                    f"is the best of {self.compared}")
        return head if self.decided else f"{head}; not enough evidence yet: {self.reason}"

    def __repr__(self) -> str:
        return self.sentence()

    __str__ = __repr__

    def _repr_html_(self) -> str:
        df = self.table.drop(columns=["note"] if not any(s.note for s in self.scores) else [])
        return (f"<div><b>{html.escape(self.sentence())}</b>"
                f"{df.to_html(index=False, na_rep='', escape=True)}"
                f"<p><small>{html.escape(self.method)}</small></p></div>")


def percent(p: float) -> str:
    """A probability as people read it: never "100%" for what Monte Carlo only makes likely."""
    return ">99%" if p > 0.99 else "<1%" if p < 0.01 else f"{p:.0%}"


def show(metric: str, v: float | None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "no data"
    if metric in RATES or metric == "retention":
        return f"{v:.2%}" if abs(v) < 0.01 else f"{v:.1%}"
    if metric == "avg_view_s":
        return f"{v:.1f} s"
    return f"{v:,.0f}/day"


def check_metric(metric: str) -> None:
    if metric in RAW_COUNTS:
        raise InvalidInput(
            f"metric={metric!r} is a raw count, which grows with how long and how hard each "
            f"variant was pushed, so no honest comparison comes from it; use a rate: "
            f"{', '.join(METRICS)} (views_per_day for reach)")
    if metric not in METRICS:
        raise InvalidInput(f"metric={metric!r} is not one winner() can compare; allowed: "
                           f"{', '.join(METRICS)}")


def _num(df: pd.DataFrame, col: str) -> pd.Series:
    return pd.to_numeric(df[col], errors="coerce") if col in df else pd.Series(
        np.nan, index=df.index, dtype=float)


def _rows(df: pd.DataFrame, metric: str,
          lengths: dict[str, float]) -> tuple[pd.DataFrame, str]:
    """Per post: the evidence `n`, `successes` (rates) or `value` (means), `days` (per-day),
    keeping only posts that report what the metric needs; and the unit of `n`."""
    out = pd.DataFrame({"variant": df["variant"].astype(str),
                        "platform": df["platform"].astype(str) if "platform" in df else ""})
    if metric in RATES:
        nums, den = RATES[metric]
        parts = pd.concat([_num(df, c) for c in nums], axis=1)
        out["successes"] = parts.sum(axis=1, min_count=1)  # a platform without shares: 0
        out["n"] = _num(df, den)
        keep = out["successes"].notna() & out["n"].notna() & (out["n"] > 0)
        out = out[keep]
        # a view can like and share, so a summed rate could pass 1: count at most one per view
        out["successes"] = np.minimum(out["successes"].clip(lower=0), out["n"])
        return out, den
    out["n"] = _num(df, "views")
    if metric in MEANS:
        out["value"] = _num(df, metric)
        out["length"] = (_num(df, "duration_s").fillna(out["variant"].map(lengths))
                         if metric == "avg_view_s" else 1.0)
        keep = out["value"].notna() & out["n"].notna() & (out["n"] > 0)
        return out[keep], "views"
    posted, fetched = (pd.to_datetime(df[c], utc=True, errors="coerce") if c in df else
                       pd.Series(pd.NaT, index=df.index, dtype="datetime64[ns, UTC]")
                       for c in ("posted_at", "fetched_at"))
    out["days"] = (fetched - posted).dt.total_seconds() / 86400
    keep = out["n"].notna() & out["days"].notna() & (out["days"] > 0)
    return out[keep], "views"


def judge(data: pd.DataFrame, specs: Sequence[Any], *, campaign: str, metric: str,
          platform: str | None, min_views: int, threshold: float, draws: int,
          seed: int) -> Winner:
    """The comparison itself; `specs` are the campaign's VariantSpecs (ids, hooks, lengths)."""
    check_metric(metric)
    if not isinstance(data, pd.DataFrame):
        raise InvalidInput(f"data must be a pandas DataFrame from nv.performance(), got "
                           f"{type(data).__name__}")
    if "variant" not in data.columns:
        raise InvalidInput(f"data needs a 'variant' column (as nv.performance() gives); it has "
                           f"{list(data.columns)}")
    if not 0.5 <= threshold < 1:
        raise InvalidInput(f"threshold must be between 0.5 and 1, got {threshold}")
    if int(min_views) < 0 or int(draws) < 100:
        raise InvalidInput(f"min_views must be >= 0 and draws >= 100, got {min_views} and "
                           f"{draws}")
    ids = [s.id for s in specs]
    df = data[data["variant"].astype(str).isin(ids)]
    if platform is not None:
        have = sorted(df["platform"].dropna().astype(str).unique()) if "platform" in df else []
        df = (df[df["platform"].astype(str).str.lower() == platform.lower()]
              if "platform" in df else df.iloc[:0])
        if df.empty:
            raise InvalidInput(f"platform={platform!r} has no posts of this campaign; its "
                               f"posts are on: {', '.join(have) or 'none'}")
    lengths = {s.id: float(s.duration_s) for s in specs}
    rows, unit = _rows(df, metric, lengths)
    if rows.empty:
        raise NoPerformanceData(
            f"no variant has data for {metric}: {', '.join(ids)} have no posts reporting "
            f"what it needs ({_needs(metric)}); post them and fetch their numbers, or pick "
            f"another metric")
    rng = np.random.default_rng(seed)
    samples: dict[str, np.ndarray] = {}
    scores: dict[str, VariantScore] = {}
    for spec in specs:
        mine = df[df["variant"].astype(str) == spec.id]
        r = rows[rows["variant"] == spec.id]
        sc = VariantScore(variant=spec.id, hook=spec.hook, market=spec.market, posts=len(mine),
                          platforms=sorted(mine["platform"].dropna().astype(str).unique())
                          if "platform" in mine else [])
        scores[spec.id] = sc
        if r.empty:
            sc.note = "no posts" if mine.empty else f"its posts do not report {_needs(metric)}"
            continue
        n = float(r["n"].sum())
        sc.n = n
        if metric in RATES:
            k = float(r["successes"].sum())
            sc.successes, sc.value = k, k / n
            samples[spec.id] = rng.beta(k + 1, n - k + 1, draws)
        elif metric in MEANS:
            m = float((r["value"] * r["n"]).sum() / n)  # view-weighted over posts
            upper = float((r["length"] * r["n"]).sum() / n)
            if not math.isfinite(upper) or m > upper + 1e-9:
                raise InvalidInput(
                    f"{spec.id}: {metric} of {m:.3g} is past its most of {upper:.3g} (replays "
                    f"counted), so the spread of a per-view average cannot be bounded; "
                    f"compare on ctr, engagement_rate or views_per_day")
            sd = math.sqrt(max(m * (upper - m), 1e-12) / n)
            sc.value = m
            samples[spec.id] = rng.normal(m, sd, draws)
        else:
            days = float(r["days"].sum())
            sc.value = n / days
            samples[spec.id] = rng.gamma(n + 0.5, 1.0 / days, draws)
        sc.low, sc.high = (float(x) for x in np.quantile(samples[spec.id], [0.025, 0.975]))
        if n < min_views:
            sc.note = f"{n:,.0f} of the {min_views:,} {unit} asked for"
    names = list(samples)
    stack = np.vstack([samples[v] for v in names])
    wins = np.bincount(stack.argmax(axis=0), minlength=len(names)) / draws
    for v, p in zip(names, wins, strict=True):
        scores[v].p_best = float(p)
    ranked = sorted(names, key=lambda v: (-(scores[v].p_best or 0), -(scores[v].value or 0)))
    lead = scores[ranked[0]]
    second = scores[ranked[1]] if len(ranked) > 1 else None
    short = [v for v in names if scores[v].n < min_views]
    reasons = []
    if second is None:
        reasons.append(f"only {lead.variant} has data, nothing to compare it with")
    if short:
        reasons.append(", ".join(f"{v} has {scores[v].n:,.0f} of the {min_views:,} {unit} "
                                 f"asked for" for v in short))
    if second is not None and (lead.p_best or 0) < threshold:
        reasons.append(f"{percent(lead.p_best or 0)} probability is below the {threshold:.0%} "
                       f"asked for")
    missing = [v for v in ids if v not in samples]
    order = ranked + missing
    return Winner(
        campaign=campaign, variant=lead.variant, metric=metric, value=float(lead.value or 0),
        confidence=float(lead.p_best or 0), runner_up=second.variant if second else None,
        runner_up_value=second.value if second else None, decided=not reasons,
        reason="; ".join(reasons), method=_method(metric, draws, seed),
        platform=platform, threshold=threshold, min_views=int(min_views), draws=int(draws),
        seed=int(seed), scores=[scores[v] for v in order], missing=missing)


def _needs(metric: str) -> str:
    if metric in RATES:
        nums, den = RATES[metric]
        return f"{' + '.join(nums)} and {den}"
    if metric in MEANS:
        return f"{metric} and views"
    return "views, posted_at and fetched_at"


def _method(metric: str, draws: int, seed: int) -> str:
    mc = f"probability of being the best from {draws:,} Monte Carlo draws (seed {seed})"
    if metric in RATES:
        nums, den = RATES[metric]
        what = " + ".join(nums)
        return (f"Beta-Binomial: {what} out of {den}, summed over each variant's posts, with a "
                f"uniform Beta(1, 1) prior" + (" (at most one engagement counted per view)"
                                               if len(nums) > 1 else "") + f"; {mc}")
    if metric in MEANS:
        top = "1" if metric == "retention" else "the ad's length"
        return (f"normal approximation of the view-weighted mean {metric}: the per-view "
                f"spread is not reported, so it is bounded by the widest a value in [0, {top}] "
                f"can have at that mean (variance <= m(U - m)), which can only understate the "
                f"confidence; {mc}")
    return (f"Gamma-Poisson on views over the days since posting (fetched_at - posted_at), "
            f"Jeffreys prior; it treats views as arriving independently, and platform delivery "
            f"is burstier than that, so this confidence is optimistic; {mc}")


class NoPerformanceData(InvalidInput):
    """No variant of the campaign has posts reporting what the metric needs."""
