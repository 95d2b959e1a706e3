"""The performance loop: which variant of a campaign wins (and how sure we are), and a
follow-up campaign more like it.

Performance tables are built by hand here, with the columns `nv.performance()` gives."""

from __future__ import annotations

import html
import json
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import nbvideo as nv
from nbvideo.campaign import CampaignExists
from nbvideo.campaign.winner import METRICS, NoPerformanceData, Winner
from nbvideo.errors import InvalidInput
from nbvideo.store.ledger import Ledger

BRIEF = "ad for a waterproof trail shoe for weekend hikers"
TINY = dict(aspect="16:9", duration_s=5.0, resolution="720p", fps=12)
HOOKS = ["Wet feet again?", "Built for the storm", "Dry in any weather"]
COLUMNS = ["project", "variant", "post", "platform", "remote_id", "posted_at", "fetched_at",
           "source", "views", "impressions", "watch_time_s", "avg_view_s", "retention", "clicks",
           "ctr", "likes", "shares", "comments", "spend_usd", "hook", "market", "aspect",
           "duration_s", "package"]


@pytest.fixture
def camp(tmp_path: Path) -> Iterator[nv.Campaign]:
    p = nv.Project.open(tmp_path / "shoe", brief=BRIEF, **TINY)
    c = nv.variants(p, hooks=HOOKS, path=tmp_path / "camp")
    p.close()
    yield c


def posts(rows: list[dict[str, object]]) -> pd.DataFrame:
    """A performance table: given fields, the rest NaN, as nv.performance() returns it."""
    full = []
    for i, r in enumerate(rows):
        row: dict[str, object] = {c: np.nan for c in COLUMNS}
        row.update(project="camp", post=f"p{i}", platform="tiktok", source="api",
                   posted_at=pd.Timestamp("2026-12-01", tz="UTC"),
                   fetched_at=pd.Timestamp("2026-12-05", tz="UTC"), duration_s=5.0)
        row.update(r)
        full.append(row)
    return pd.DataFrame(full, columns=COLUMNS)


def ids(c: nv.Campaign) -> list[str]:
    return list(c.variants["variant"])


# ------------------------------------------------------------------ winner

def test_a_clear_winner_on_ctr_is_decided_with_high_confidence(camp: nv.Campaign) -> None:
    a, b, h3 = ids(camp)
    data = posts([{"variant": a, "clicks": 320, "impressions": 10_000},
                  {"variant": b, "clicks": 410, "impressions": 10_000},
                  {"variant": h3, "clicks": 300, "impressions": 10_000}])
    w = camp.winner("ctr", data=data)
    assert isinstance(w, Winner)
    assert (w.variant, w.runner_up, w.decided) == (b, a, True)
    assert w.confidence > 0.95 and w.reason == ""
    assert w.value == pytest.approx(0.041) and w.runner_up_value == pytest.approx(0.032)
    assert repr(w) == (f"{b} wins on ctr (4.1% vs 3.2%), >99% probability it is the best "
                       f"of 3")
    assert "Beta-Binomial" in w.method and "seed 0" in w.method
    t = w.table
    assert list(t["variant"]) == [b, a, h3] and t["p_best"].sum() == pytest.approx(1.0)
    assert (t["low"] < t["value"]).all() and (t["value"] < t["high"]).all()
    assert html.escape(w.sentence()) in w._repr_html_()
    again = camp.winner("ctr", data=data)  # seeded: the same data give the same answer
    assert again.confidence == w.confidence


def test_two_equal_variants_are_a_coin_toss_and_not_decided(camp: nv.Campaign) -> None:
    a, b, _ = ids(camp)
    data = posts([{"variant": a, "clicks": 400, "impressions": 10_000},
                  {"variant": b, "clicks": 400, "impressions": 10_000}])
    w = camp.winner("ctr", data=data)
    assert 0.4 < w.confidence < 0.6 and not w.decided
    assert "not enough evidence yet" in repr(w) and "below the 95% asked for" in w.reason
    assert " leads on ctr " in repr(w)


def test_a_big_gap_on_a_small_sample_is_not_decided(camp: nv.Campaign) -> None:
    a, b, _ = ids(camp)
    data = posts([{"variant": a, "clicks": 1, "impressions": 60},
                  {"variant": b, "clicks": 9, "impressions": 60}])
    w = camp.winner("ctr", data=data)
    assert w.variant == b and w.confidence > 0.95  # likely, yet on too few impressions
    assert not w.decided
    assert f"{a} has 60 of the 1,000 impressions asked for" in w.reason
    assert camp.winner("ctr", data=data, min_views=50).decided  # asked for less: it is enough


def test_posts_add_up_across_platforms_or_one_platform_is_compared(camp: nv.Campaign) -> None:
    a, b, _ = ids(camp)
    data = posts([{"variant": a, "platform": "tiktok", "clicks": 500, "impressions": 10_000},
                  {"variant": a, "platform": "youtube", "clicks": 100, "impressions": 10_000},
                  {"variant": b, "platform": "tiktok", "clicks": 300, "impressions": 10_000},
                  {"variant": b, "platform": "youtube", "clicks": 200, "impressions": 10_000}])
    both = camp.winner("ctr", data=data)
    assert both.variant == a and both.value == pytest.approx(0.03)
    row = both.table.set_index("variant").loc[a]
    assert (row["posts"], row["platforms"], row["n"]) == (2, ["tiktok", "youtube"], 20_000)
    yt = camp.winner("ctr", data=data, platform="YouTube")
    assert yt.variant == b and yt.platform == "YouTube" and yt.decided
    with pytest.raises(InvalidInput, match="platform='instagram' has no posts of this "
                                           "campaign; its posts are on: tiktok, youtube"):
        camp.winner("ctr", data=data, platform="instagram")


def test_missing_numbers_and_variants_without_posts_are_named(camp: nv.Campaign) -> None:
    a, b, h3 = ids(camp)
    data = posts([{"variant": a, "clicks": 300, "impressions": 10_000},
                  {"variant": a, "clicks": np.nan, "impressions": 5_000},  # not reported yet
                  {"variant": b, "views": 900},  # ctr's numbers missing
                  {"variant": "not-ours", "clicks": 999, "impressions": 1_000}])
    w = camp.winner("ctr", data=data)
    assert w.variant == a and w.missing == [b, h3] and not w.decided
    assert "nothing to compare it with" in w.reason
    assert repr(w).startswith(f"{a} leads on ctr (3.0%), the only one of 3 with data")
    notes = w.table.set_index("variant")["note"]
    assert notes[b] == "its posts do not report clicks and impressions"
    assert notes[h3] == "no posts"
    assert w.table.set_index("variant").loc[a, "n"] == 10_000  # the NaN post is left out
    empty = posts([{"variant": a, "views": 100}, {"variant": b}])
    with pytest.raises(NoPerformanceData, match=f"no variant has data for ctr: {a}, {b}, {h3} "
                                                f"have no posts reporting what it needs"):
        camp.winner("ctr", data=empty)
    with pytest.raises(NoPerformanceData):
        camp.winner("retention", data=posts([]))


def test_a_bad_metric_names_the_allowed_ones(camp: nv.Campaign) -> None:
    data = posts([{"variant": ids(camp)[0], "clicks": 1, "impressions": 10}])
    with pytest.raises(InvalidInput) as exc:
        camp.winner("click_through", data=data)
    assert "metric='click_through' is not one winner() can compare; allowed: " in str(exc.value)
    assert all(m in str(exc.value) for m in METRICS)
    with pytest.raises(InvalidInput, match="metric='views' is a raw count.*views_per_day"):
        camp.winner("views", data=data)
    with pytest.raises(InvalidInput, match="data must be a pandas DataFrame"):
        camp.winner("ctr", data=[1, 2])  # type: ignore[arg-type]


def test_engagement_and_retention_use_the_stated_models(camp: nv.Campaign) -> None:
    a, b, _ = ids(camp)
    data = posts([{"variant": a, "views": 20_000, "likes": 200, "shares": np.nan,
                   "comments": 40, "retention": 0.40, "avg_view_s": 2.0},
                  {"variant": b, "views": 20_000, "likes": 300, "shares": 60, "comments": 40,
                   "retention": 0.46, "avg_view_s": 2.3}])
    eng = camp.winner("engagement_rate", data=data)  # a platform without shares counts 0
    assert eng.variant == b and eng.decided and eng.value == pytest.approx(0.02)
    ret = camp.winner("retention", data=data)
    assert ret.variant == b and ret.decided and "normal approximation" in ret.method
    few = posts([{"variant": a, "views": 30, "retention": 0.40},
                 {"variant": b, "views": 30, "retention": 0.46}])
    unsure = camp.winner("retention", data=few, min_views=0)
    assert not unsure.decided and unsure.confidence < 0.9  # the bound keeps it humble
    looped = posts([{"variant": a, "views": 5_000, "avg_view_s": 7.5},
                    {"variant": b, "views": 5_000, "avg_view_s": 2.0}])
    with pytest.raises(InvalidInput, match="replays counted"):
        camp.winner("avg_view_s", data=looped)
    per_day = camp.winner("views_per_day", data=posts([
        {"variant": a, "views": 4_000}, {"variant": b, "views": 8_000}]))
    assert per_day.variant == b and per_day.value == pytest.approx(2_000)
    assert "optimistic" in per_day.method


def test_without_data_it_asks_the_publishing_phase(camp: nv.Campaign,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    a, b, _ = ids(camp)
    calls = []

    def performance(root: Path, refresh: bool = True) -> pd.DataFrame:
        calls.append((Path(root), refresh))
        return posts([{"variant": a, "clicks": 100, "impressions": 10_000},
                      {"variant": b, "clicks": 300, "impressions": 10_000}])

    fake = types.ModuleType("nbvideo.deliver.performance")
    fake.performance = performance  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "nbvideo.deliver.performance", fake)
    assert camp.winner("ctr", refresh=False).variant == b
    assert calls == [(camp.path, False)]


# ------------------------------------------------------------------ more like it

def won(c: nv.Campaign, i: int = 1) -> Winner:
    data = posts([{"variant": v, "clicks": 500 if n == i else 300, "impressions": 10_000}
                  for n, v in enumerate(ids(c))])
    return c.winner("ctr", data=data)


def test_more_like_keeps_the_winner_varies_the_end_card_and_reuses_its_assets(
        tmp_path: Path) -> None:
    p = nv.Project.open(tmp_path / "shoe", brief=BRIEF, **TINY)
    camp = nv.variants(p, hooks=HOOKS[:2], path=tmp_path / "camp")  # two: a quick run
    p.close()
    assert (camp.run(cluster="inline", progress=False)["status"] == "done").all()
    w = won(camp)
    src = camp._state.spec(w.variant)
    nxt = camp.more_like(w, n=2)
    assert nxt.path == camp.path.parent / f"camp-{w.variant}-cta"
    specs = nxt._state.variants
    assert len(specs) == 2
    for s in specs:
        assert s.hook == src.hook and s.scenes[0] == src.scenes[0]  # the hook scene as it won
        assert [x.id for x in s.scenes] == [x.id for x in src.scenes]
        assert [x.beat for x in s.scenes] == [x.beat for x in src.scenes]
        assert s.scenes[1:-1] == src.scenes[1:-1]
        assert (s.structure, s.title, s.palette) == (src.structure, src.title, src.palette)
        assert (s.models, s.model, s.aspect, s.duration_s, s.seed) == (
            src.models, src.model, src.aspect, src.duration_s, src.seed)
    ends = [s.scenes[-1].on_screen_text for s in specs]
    assert len(set(ends)) == 2 and src.scenes[-1].on_screen_text not in ends
    cta_q = next(q for q in src.questions if q.id == "cta")
    assert set(ends) <= set(cta_q.choices)  # the planner's other lines

    back = nv.Campaign.open(nxt.path)  # provenance is on disk
    o = back.origin
    assert o is not None and (o.campaign, o.variant, o.metric, o.vary) == (
        str(camp.path), w.variant, "ctr", "cta")
    assert o.confidence == w.confidence and o.decided and o.values == ends
    assert f"more like camp/{w.variant}, ctr >99%, varying cta" in repr(back)

    res = back.run(cluster="inline", progress=False)
    assert (res["status"] == "done").all()
    assert (res["frames_shared"] >= len(src.scenes) - 1).all()  # the source's frames, reused
    for project in res["project"]:
        p = nv.Project.open(project, read_only=True)
        assert p.state.scenes[0].on_screen_text == src.hook
        hits = Ledger(Path(project) / "ledger.jsonl").to_pandas()
        assert hits["note"].str.contains("shared: made by").any()


def test_more_like_by_seed_or_market_changes_only_that(camp: nv.Campaign) -> None:
    a, b, _ = ids(camp)
    src = camp._state.spec(b)
    takes = camp.more_like(b, vary="seed", n=2)
    assert takes.origin is not None and takes.origin.metric is None  # picked by hand
    assert "picked by hand" in repr(takes)
    specs = takes._state.variants
    assert [s.id for s in specs] == ["seed-8", "seed-9"] and [s.seed for s in specs] == [8, 9]
    for s in specs:
        assert s.scenes[0] == src.scenes[0]  # the hook keeps its pictures
        assert all(x.frame_seed != y.frame_seed and x.on_screen_text == y.on_screen_text
                   for x, y in zip(s.scenes[1:], src.scenes[1:], strict=True))
    assert specs[0].scenes[1].frame_seed != specs[1].scenes[1].frame_seed
    est = takes.estimate()
    assert list(est["variant"]) == ["total", "seed-8", "seed-9"]

    de = camp.more_like(b, vary="market", values={"DE": "Jetzt kaufen", "FR": "Achetez"},
                        path=camp.path.parent / "europe")
    got = {s.market: s.scenes[-1].on_screen_text for s in de._state.variants}
    assert got == {"DE": "Jetzt kaufen", "FR": "Achetez"}
    assert all(s.scenes[0] == src.scenes[0] for s in de._state.variants)
    plan = [sc.beat for sc in src.scenes]
    beat = plan[1]  # a scene after the hook
    copy = camp.more_like(b, vary="copy",
                          values=[{beat: "Dry all day"}, {beat: "Grip on wet rock"}])
    for s, text in zip(copy._state.variants, ["Dry all day", "Grip on wet rock"], strict=True):
        assert s.scenes[1].on_screen_text == text
        assert s.scenes[0] == src.scenes[0] and s.scenes[2:] == src.scenes[2:]
    assert copy.origin is not None and copy.origin.values == [f"{beat}: Dry all day",
                                                              f"{beat}: Grip on wet rock"]
    with pytest.raises(InvalidInput, match="vary='copy' keeps the hook that won"):
        camp.more_like(b, vary="copy", values=[{"hook": "Soggy socks?"}])
    missing = next(x for x in ("proof", "offer", "problem", "benefit", "product")
                   if x not in plan)
    with pytest.raises(InvalidInput, match=f"copy 1: the winner's plan has no {missing} scene"):
        camp.more_like(b, vary="copy", values=[{missing: "x"}])
    square = camp.more_like(b, n=1, aspect="1:1", values=["Get yours"])
    assert [(s.aspect, s.brief.aspect) for s in square._state.variants] == [("1:1", "1:1")]


def test_more_like_refuses_an_existing_folder_and_bad_asks_without_writing(
        camp: nv.Campaign, tmp_path: Path) -> None:
    a, b, _ = ids(camp)
    first = camp.more_like(b, n=1)
    before = (first.path / "campaign.json").read_bytes()
    with pytest.raises(CampaignExists, match="already exists; more_like.. makes a new campaign "
                                             "and never writes into an existing folder"):
        camp.more_like(b, n=2)
    assert (first.path / "campaign.json").read_bytes() == before
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    with pytest.raises(CampaignExists):
        camp.more_like(b, n=1, path=mine)
    assert [f.name for f in mine.iterdir()] == ["notes.txt"]

    listing = sorted(x.name for x in tmp_path.iterdir())
    with pytest.raises(InvalidInput, match="vary='hook' is not an axis more_like.. varies; "
                                           "allowed: cta, seed, copy, market"):
        camp.more_like(b, vary="hook")
    with pytest.raises(InvalidInput, match="no variant 'nope'; variants: "):
        camp.more_like("nope")
    with pytest.raises(InvalidInput, match=r"more_like\(n=40\) needs 40 end-card lines but "
                                           r"there are only \d"):
        camp.more_like(a, n=40)
    with pytest.raises(InvalidInput, match="vary='market' needs values="):
        camp.more_like(a, vary="market")
    other = tmp_path / "other"
    p = nv.Project.open(tmp_path / "shoe2", brief=BRIEF, **TINY)
    foreign = won(nv.variants(p, hooks=HOOKS[:2], path=other))
    p.close()
    with pytest.raises(InvalidInput, match="that winner is from the campaign at"):
        camp.more_like(foreign)
    assert sorted(x.name for x in tmp_path.iterdir()) == sorted([*listing, "other", "shoe2"])
    json.loads((camp.path / "campaign.json").read_text())  # the source is untouched
    assert camp.origin is None


def test_a_follow_up_of_an_undecided_leader_says_so_and_lines_are_checked(
        camp: nv.Campaign) -> None:
    a, b, _ = ids(camp)
    early = camp.winner("ctr", data=posts([{"variant": a, "clicks": 3, "impressions": 90},
                                           {"variant": b, "clicks": 4, "impressions": 90}]))
    assert not early.decided
    with pytest.raises(InvalidInput, match="end-card line .*: "):
        camp.more_like(early, values=["Shop now " * 30])  # past what a scene's text holds
    nxt = camp.more_like(early, values=["Get yours", "Try it today"])
    assert nxt.origin is not None and nxt.origin.decided is False
    assert "(not decided)" in repr(nxt)
    assert [s.scenes[-1].on_screen_text for s in nxt._state.variants] == ["Get yours",
                                                                          "Try it today"]
    assert [s.answers.get("cta") for s in nxt._state.variants] == ["Get yours", "Try it today"]
    no_dates = posts([{"variant": a, "views": 100}]).drop(columns=["posted_at", "fetched_at"])
    with pytest.raises(NoPerformanceData, match="views, posted_at and fetched_at"):
        camp.winner("views_per_day", data=no_dates)


def test_between_equal_variants_a_false_winner_is_rare_and_retention_errs_careful() -> None:
    """The stated confidence means what it says: with two equal variants, either can reach
    95% by chance (about 1 time in 10, 5% each way); the retention bound only understates."""
    from types import SimpleNamespace

    from nbvideo.campaign.winner import judge

    rng = np.random.default_rng(1)
    specs = [SimpleNamespace(id=v, hook=None, market=None, duration_s=5.0) for v in ("a", "b")]
    ctr = ret = 0
    runs = 100
    for _ in range(runs):
        clicks = posts([{"variant": v, "clicks": k, "impressions": 5_000}
                        for v, k in zip("ab", rng.binomial(5_000, 0.03, 2), strict=True)])
        ctr += judge(clicks, specs, campaign="x", metric="ctr", platform=None, min_views=0,
                     threshold=0.95, draws=1_000, seed=0).decided
        watched = [rng.beta(0.8, 1.2, 300).mean() for _ in "ab"]  # true mean 0.4 for both
        views = posts([{"variant": v, "views": 300, "retention": r}
                       for v, r in zip("ab", watched, strict=True)])
        ret += judge(views, specs, campaign="x", metric="retention", platform=None,
                     min_views=0, threshold=0.95, draws=1_000, seed=0).decided
    assert 0.02 <= ctr / runs <= 0.17
    assert ret <= ctr


@pytest.mark.slow
def test_more_likes_estimate_and_budget_count_the_sources_scenes_as_paid(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A follow-up's store starts with the source's clips, so only its new end cards cost
    money: the estimate says so, and a budget that holds just those admits every variant."""
    from tests.doubles.replicate_double import start_replicate_double
    from tests.test_clip_routing import TOKEN, fast

    double = start_replicate_double(TOKEN)
    monkeypatch.setenv("REPLICATE_API_TOKEN", TOKEN)
    monkeypatch.setenv("REPLICATE_BASE_URL", double.base_url)
    monkeypatch.setenv("NBVIDEO_DOWNLOAD_HOSTS", "127.0.0.1")
    try:
        p = fast(nv.Project.open(tmp_path / "cold", brief="ad for a cold brew coffee can",
                                 providers="replicate", **TINY))
        camp = nv.variants(p, hooks=HOOKS[:2], path=tmp_path / "camp")
        p.close()
        assert (camp.run(cluster="inline", progress=False)["status"] == "done").all()
        one = camp.estimate().set_index("variant").iloc[1]["alone_usd"]  # a whole variant
        made_before = sum(double.creates.values())

        nxt = camp.more_like(won(camp), n=2, budget_usd=1000)
        est = nxt.estimate().set_index("variant")
        new = est.loc["total", "new_usd"]
        assert 0 < new < one  # two new end cards, not two whole variants
        nxt.budget_usd = round(new + 0.01, 2)  # room for the end cards only
        res = nxt.run(cluster="inline", progress=False)
        assert (res["status"] == "done").all(), res["error"].tolist()
        # each made its new end card's frame; its clip too, unless the double's frame came
        # back byte for byte the same as the source's (then that clip is a shared hit)
        assert 2 <= sum(double.creates.values()) - made_before <= 4
        assert 0 < nxt.spent_usd <= new <= nxt.budget_usd  # never more than it said
    finally:
        double.stop()
