"""Analytics: `nv.performance(root)` reads each posted video's numbers back from its platform.

The posts are written as a finished publish leaves them (status posted, the platform's id),
so nothing uploads; the numbers come from the three platform doubles on 127.0.0.1 (YouTube
Analytics reports.query and Data API statistics, TikTok's video query, Instagram media
insights) and from the dry-run platform's metrics file or its simulated audience."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

import nbvideo as nv
from nbvideo.deliver.performance import COLUMNS
from nbvideo.deliver.platforms import DryRunPlatform, NoAnalytics, Publisher
from nbvideo.model.metrics import PostMetrics
from nbvideo.model.posts import Post, PostEvent, new_post_id
from nbvideo.store.metrics import MetricsStore
from nbvideo.store.posts import PostStore
from tests.doubles.meta_double import MetaDouble, start_meta_double
from tests.doubles.tiktok_double import TikTokDouble, start_tiktok_double
from tests.doubles.youtube_double import YouTubeDouble, start_youtube_double
from tests.test_publish import write_package

YT_TOKEN = "ya29.MARKER-analytics-3e1f0c2b"
TT_TOKEN = "act.MARKER-analytics-9d8c7b6a"
META_TOKEN = "EAAG-MARKER-analytics-5f4e3d2c"
MARKERS = (YT_TOKEN, TT_TOKEN, META_TOKEN)
TT_VIDEO = "7300000000000000001"
IG_MEDIA = "18000000000000042"
NUMBERS = ["views", "impressions", "watch_time_s", "avg_view_s", "retention", "clicks", "ctr",
           "likes", "shares", "comments", "spend_usd"]
EXPECTED_COLUMNS = ["project", "variant", "post", "platform", "remote_id", "posted_at",
                    "fetched_at", "source", "views", "impressions", "watch_time_s",
                    "avg_view_s", "retention", "clicks", "ctr", "likes", "shares", "comments",
                    "spend_usd", "hook", "market", "aspect", "duration_s", "package", "error"]


@pytest.fixture
def doubles(monkeypatch: pytest.MonkeyPatch, tmp_path: Path
            ) -> Iterator[tuple[YouTubeDouble, TikTokDouble, MetaDouble]]:
    yt, tt, meta = (start_youtube_double(YT_TOKEN), start_tiktok_double(TT_TOKEN),
                    start_meta_double(META_TOKEN))
    for name, value in {"NBVIDEO_YOUTUBE_TOKEN": YT_TOKEN, "NBVIDEO_YOUTUBE_BASE_URL": yt.base_url,
                        "NBVIDEO_TIKTOK_TOKEN": TT_TOKEN, "NBVIDEO_TIKTOK_BASE_URL": tt.base_url,
                        "NBVIDEO_META_TOKEN": META_TOKEN, "NBVIDEO_META_BASE_URL": meta.base_url,
                        "NBVIDEO_INSTAGRAM_USER_ID": meta.user_id,
                        "NBVIDEO_DRYRUN_PLATFORM": str(tmp_path / "platform")}.items():
        monkeypatch.setenv(name, value)
    yield yt, tt, meta
    for d in (yt, tt, meta):
        d.stop()


def posted(root: Path, platform: str, remote_id: str, *, package: str = "ad-tiktok",
           url: str | None = None) -> Post:
    """A post as a finished publish leaves it."""
    now = datetime.now(UTC)
    post = Post(id=new_post_id(), platform=platform, package=package,  # type: ignore[arg-type]
                video=f"packages/{package}/{package}.mp4", video_sha256="0" * 64,
                size_bytes=1000, created_at=now - timedelta(days=2), status="posted",
                remote_id=remote_id, remote_url=url,
                events=[PostEvent(at=now - timedelta(days=2), status="uploading"),
                        PostEvent(at=now - timedelta(days=2), status="posted")])
    PostStore(root).save(post)
    return post


def dry_run_video(platform: Path, vid: str, metrics: dict[str, float] | None = None) -> None:
    d = platform / "videos" / vid
    d.mkdir(parents=True)
    (d / "video.json").write_text(json.dumps({"id": vid, "posted_at": "2026-12-01T09:00:00",
                                              "checked": True, "failed": False}))
    if metrics is not None:
        (d / "metrics.json").write_text(json.dumps(metrics))


def seed(yt: YouTubeDouble, tt: TikTokDouble, meta: MetaDouble, root: Path, platform: Path
         ) -> dict[str, Post]:
    """Four posted videos, one per platform, and a second dry-run one with no metrics file."""
    write_package(root, "tiktok", duration_s=15.0)  # 1080x1920: 9:16
    yt.videos["yt-vid-0001"] = {"bytes": b"", "snippet": {}, "status": {}, "looks": 2,
                                "thumbnail": None, "captions": []}
    yt.analytics["yt-vid-0001"] = {"views": 1200, "estimatedMinutesWatched": 150,
                                   "averageViewDuration": 7, "averageViewPercentage": 46.5,
                                   "likes": 80, "shares": 12, "comments": 9}
    tt.video_stats[TT_VIDEO] = {"view_count": 5400, "like_count": 610, "comment_count": 33,
                                "share_count": 71, "title": "Ridgeline"}
    meta.media[IG_MEDIA] = {"id": IG_MEDIA, "caption": "c", "timestamp": "2026-12-01T09:00:00"
                            "+0000", "permalink": "https://www.instagram.com/reel/R1/"}
    meta.insights[IG_MEDIA] = {"views": 3100, "reach": 2500, "likes": 140, "comments": 11,
                               "shares": 25, "saved": 30, "ig_reels_avg_watch_time": 6200,
                               "ig_reels_video_view_total_time": 19_220_000}
    dry_run_video(platform, "dryfile0001", {"views": 900, "impressions": 10000, "clicks": 300,
                                            "ctr": 0.03, "likes": 50, "spend_usd": 12.5})
    dry_run_video(platform, "drysim00001")
    return {
        "youtube": posted(root, "youtube", "yt-vid-0001"),
        "tiktok": posted(root, "tiktok", "v_pub_file~v2-1.123",
                         url=f"https://www.tiktok.com/@trailhead/video/{TT_VIDEO}"),
        "instagram": posted(root, "instagram", IG_MEDIA),
        "dry-run": posted(root, "dry-run", "dryfile0001"),
        "simulated": posted(root, "dry-run", "drysim00001"),
    }


def row(df: pd.DataFrame, post: Post) -> pd.Series:
    (i,) = df.index[df["post"] == post.id]
    return df.loc[i]


def numbers(r: pd.Series) -> dict[str, float | None]:
    return {k: (None if math.isnan(r[k]) else r[k]) for k in NUMBERS}


@pytest.fixture
def project(tmp_path: Path) -> Iterator[nv.Project]:
    with nv.Project.open(tmp_path / "shoe", brief="15s ad for a trail shoe") as p:
        yield p


def test_one_frame_has_each_platforms_numbers_and_nan_for_what_it_lacks(
        project: nv.Project, doubles: tuple[YouTubeDouble, TikTokDouble, MetaDouble],
        tmp_path: Path) -> None:
    yt, tt, meta = doubles
    posts = seed(yt, tt, meta, project.path, tmp_path / "platform")
    df = nv.performance(project.path)
    assert list(df.columns) == EXPECTED_COLUMNS == COLUMNS
    assert len(df) == 5 and df["error"].isna().all(), df["error"].tolist()
    assert set(df["project"]) == {"shoe"} and set(df["package"]) == {"ad-tiktok"}
    assert set(df["aspect"]) == {"9:16"} and set(df["duration_s"]) == {15.0}
    nan = None
    # YouTube Analytics: no impressions or click-through in reports.query, no spend
    yt_row = row(df, posts["youtube"])
    assert yt_row["source"] == "api" and yt_row["remote_id"] == "yt-vid-0001"
    assert numbers(yt_row) == {"views": 1200, "impressions": nan, "watch_time_s": 9000.0,
                               "avg_view_s": 7.0, "retention": 0.465, "clicks": nan,
                               "ctr": nan, "likes": 80, "shares": 12, "comments": 9,
                               "spend_usd": nan}
    # TikTok's video query: counts only
    assert numbers(row(df, posts["tiktok"])) == {
        "views": 5400, "impressions": nan, "watch_time_s": nan, "avg_view_s": nan,
        "retention": nan, "clicks": nan, "ctr": nan, "likes": 610, "shares": 71,
        "comments": 33, "spend_usd": nan}
    # Instagram insights: watch times in ms become seconds; retention from the 15 s length
    ig = numbers(row(df, posts["instagram"]))
    assert ig.pop("retention") == pytest.approx(6.2 / 15)
    assert ig == {"views": 3100, "impressions": nan, "watch_time_s": 19220.0,
                  "avg_view_s": 6.2, "clicks": nan, "ctr": nan, "likes": 140, "shares": 25,
                  "comments": 11, "spend_usd": nan}
    # the dry-run platform: the numbers in the file beside the video, the rest NaN
    dr = row(df, posts["dry-run"])
    assert dr["source"] == "file" and numbers(dr) == {
        "views": 900, "impressions": 10000, "watch_time_s": nan, "avg_view_s": nan,
        "retention": nan, "clicks": 300, "ctr": 0.03, "likes": 50, "shares": nan,
        "comments": nan, "spend_usd": 12.5}
    # ... or, with no file, a simulated audience, the same every time
    sim = row(df, posts["simulated"])
    assert sim["source"] == "simulated" and sim["views"] > 0 and 0 < sim["retention"] <= 1
    assert sim["avg_view_s"] == pytest.approx(sim["retention"] * 15)
    again = nv.performance(project.path)
    assert row(again, posts["simulated"])["views"] == sim["views"]
    # what was asked of each API, in its shape
    assert yt.reports == 2 and tt.queries == 2 and meta.insight_calls == 2
    assert ("GET", "/v2/reports") in yt.requests
    assert any("/insights?metric=views%2Creach" in u or "/insights?metric=views,reach" in u
               for u in meta.urls)
    # every fetch is kept: history, one snapshot a line
    assert len(MetricsStore(project.path).all()) == 10
    assert project.performance(refresh=False)["views"].tolist() == again["views"].tolist()


def test_an_expired_token_or_a_used_up_quota_costs_that_row_only(
        project: nv.Project, doubles: tuple[YouTubeDouble, TikTokDouble, MetaDouble],
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    yt, tt, meta = doubles
    posts = seed(yt, tt, meta, project.path, tmp_path / "platform")
    first = nv.performance(project.path)
    assert first["error"].isna().all()

    yt.analytics_quota_exceeded = True
    tt.fail("expired_token", "query")
    meta.expired_token = True  # its 401 echoes the token it was sent
    (tmp_path / "platform" / "videos" / "dryfile0001" / "metrics.json").write_text(
        json.dumps({"views": 950}))
    df = nv.performance(project.path)
    assert len(df) == 5
    assert "quota is used up (quotaExceeded)" in row(df, posts["youtube"])["error"]
    assert "access_token_invalid" in row(df, posts["tiktok"])["error"]
    assert "Meta refused the token (code 190" in row(df, posts["instagram"])["error"]
    # the failed rows keep the numbers saved before; the others are fresh
    for p in ("youtube", "tiktok", "instagram"):
        assert numbers(row(df, posts[p])) == numbers(row(first, posts[p]))
        assert row(df, posts[p])["fetched_at"] == row(first, posts[p])["fetched_at"]
    assert row(df, posts["dry-run"])["views"] == 950 and pd.isna(row(df, posts["dry-run"])["error"])

    # YouTube's token refused: 401 in Google's shape
    yt.analytics_quota_exceeded, yt.expire_tokens = False, True
    df = nv.performance(project.path)
    assert "YouTube refused the token for the video's analytics (401" in \
        row(df, posts["youtube"])["error"]

    # the tokens never reach the frame, the files or the logs
    text = df.to_string() + df["error"].to_string() + caplog.text
    files = b"".join(f.read_bytes() for f in tmp_path.rglob("*") if f.is_file())
    for marker in MARKERS:
        assert marker not in text and marker.encode() not in files


def test_refresh_false_reads_the_saved_snapshot_offline(
        project: nv.Project, doubles: tuple[YouTubeDouble, TikTokDouble, MetaDouble],
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    yt, tt, meta = doubles
    posts = seed(yt, tt, meta, project.path, tmp_path / "platform")
    never = PostStore(project.path).load(posted(project.path, "youtube", "yt-vid-0002").id)
    before = nv.performance(project.path, refresh=False)  # nothing fetched yet
    assert before["views"].isna().all() and before["source"].isna().all()
    assert before["error"].str.contains("no metrics saved yet").all()
    assert yt.reports == tt.queries == meta.insight_calls == 0

    yt.analytics["yt-vid-0001"]["views"] = 1300
    # too new for an Analytics row: the Data API's public counts (strings, as YouTube sends)
    yt.statistics["yt-vid-0002"] = {"viewCount": "17", "likeCount": "2", "commentCount": "0"}
    fresh = nv.performance(project.path)
    assert row(fresh, posts["youtube"])["views"] == 1300
    assert numbers(row(fresh, never)) == {
        "views": 17, "impressions": None, "watch_time_s": None, "avg_view_s": None,
        "retention": None, "clicks": None, "ctr": None, "likes": 2, "shares": None,
        "comments": 0, "spend_usd": None}
    for d in doubles:
        d.stop()
    for name in ("NBVIDEO_YOUTUBE_TOKEN", "NBVIDEO_TIKTOK_TOKEN", "NBVIDEO_META_TOKEN"):
        monkeypatch.delenv(name)  # offline and without tokens
    offline = nv.performance(project.path, refresh=False)
    pd.testing.assert_frame_equal(offline, fresh)
    assert (project.path / "publish" / "metrics.jsonl").is_file()


def test_a_campaign_root_gives_each_variants_hook_market_and_aspect(
        doubles: tuple[YouTubeDouble, TikTokDouble, MetaDouble], tmp_path: Path) -> None:
    from tests.conftest import BRIEF, SMALL

    with nv.Project.open(tmp_path / "shoe", brief=BRIEF, **SMALL) as base:
        c = nv.variants(base, hooks=["Wet feet again?", "Built for the storm"],
                        markets={"US": "Shop now", "DE": "Jetzt kaufen"},
                        path=tmp_path / "camp")
    platform = tmp_path / "platform"
    specs = c.variants.set_index("variant")
    for i, project in enumerate(specs["project"]):
        dry_run_video(platform, f"camp{i:07d}", {"views": 100.0 * (i + 1)})
        posted(Path(project), "dry-run", f"camp{i:07d}")
    df = nv.performance(tmp_path / "camp")
    assert len(df) == 4 and df["error"].isna().all()
    assert sorted(df["variant"]) == sorted(specs.index)
    assert set(df["market"]) == {"US", "DE"}
    assert set(df["hook"]) == {"Wet feet again?", "Built for the storm"}
    for _, r in df.iterrows():
        assert r["aspect"] == specs.loc[r["variant"], "aspect"]
        assert r["duration_s"] == specs.loc[r["variant"], "duration_s"]
        assert r["project"] == Path(specs.loc[r["variant"], "project"]).name
    # a folder above the campaign finds the same rows, labelled the same way
    assert sorted(nv.performance(tmp_path, refresh=False)["hook"]) == sorted(df["hook"])

    fig = nv.performance_chart(df, by="hook", metric="views")
    (ax,) = fig.axes
    assert ax.get_title() == "views by hook (mean per post)"
    assert ax.get_xlabel() == "views" and ax.get_ylabel() == "hook"
    assert sorted(t.get_text() for t in ax.get_yticklabels()) == sorted(set(df["hook"]))
    means = df.groupby("hook")["views"].mean()
    widths = {t.get_text(): b.get_width() for t, b in zip(ax.get_yticklabels(), ax.patches,
                                                          strict=True)}
    assert widths == means.to_dict()
    assert "(n=2)" in " ".join(t.get_text() for t in ax.texts)
    fig.savefig(tmp_path / "perf.png")
    with pytest.raises(nv.InvalidInput, match="by must be one of variant, hook"):
        nv.performance_chart(df, by="colour")
    with pytest.raises(nv.InvalidInput, match="metric must be one of views"):
        nv.performance_chart(df, metric="vibes")


def test_a_platform_without_analytics_says_so_in_its_row(tmp_path: Path) -> None:
    class Mute(DryRunPlatform):
        platform = "facebook"

        async def metrics(self, post: Post) -> PostMetrics:
            return await Publisher.metrics(self, post)

    root = tmp_path / "p"
    root.mkdir()
    (root / "project.json").write_text("{}")  # found as a project; its posts are all we read
    post = posted(root, "facebook", "123")
    df = nv.performance(root, publishers={"facebook": Mute(tmp_path / "fb")})
    assert "facebook gives no analytics in this version" in row(df, post)["error"]
    assert df[NUMBERS].isna().all().all()
    with pytest.raises(nv.InvalidInput, match="root must be a project"):
        nv.performance(tmp_path / "nowhere")
    assert issubclass(NoAnalytics, nv.ProviderError)


def test_youtube_analytics_refreshes_an_authorized_users_token(
        project: nv.Project, doubles: tuple[YouTubeDouble, TikTokDouble, MetaDouble],
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    yt, tt, meta = doubles
    posts = seed(yt, tt, meta, project.path, tmp_path / "platform")
    yt.refresh_token = "1//MARKER-refresh-6a5b4c3d"
    monkeypatch.setenv("NBVIDEO_YOUTUBE_TOKEN", json.dumps({
        "client_id": "c.apps.googleusercontent.com", "client_secret": "MARKER-secret-0b1c2d",
        "refresh_token": yt.refresh_token}))
    df = nv.performance(project.path)
    assert row(df, posts["youtube"])["views"] == 1200 and yt.refreshes == 1
    yt.expire_tokens = True  # the refresh token revoked too
    df = nv.performance(project.path)
    assert "Google refused the YouTube refresh token" in row(df, posts["youtube"])["error"]
    files = b"".join(f.read_bytes() for f in tmp_path.rglob("*") if f.is_file())
    for secret in ("MARKER-refresh-6a5b4c3d", "MARKER-secret-0b1c2d", "ya29.double-"):
        assert secret not in df.to_string() and secret.encode() not in files
