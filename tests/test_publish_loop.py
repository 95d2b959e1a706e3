"""The performance loop end to end, against the platform doubles on 127.0.0.1 (issue 21's
"done when"): a campaign is packaged, scheduled and published to YouTube, TikTok and
Instagram; an upload that drops mid-file resumes without a second post; the numbers come
back from each platform's analytics; the winner is named with its confidence; and a
follow-up campaign starts from it and runs."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import nbvideo as nv
from nbvideo.deliver import publish as publishing
from nbvideo.deliver.platforms import Publisher
from nbvideo.deliver.platforms.meta import InstagramReels
from nbvideo.deliver.platforms.tiktok import TikTokPublisher
from nbvideo.deliver.platforms.youtube import YouTubePublisher
from nbvideo.deliver.publish import run_due
from nbvideo.overview import find_projects
from tests.conftest import BRIEF
from tests.doubles.meta_double import MetaDouble, start_meta_double
from tests.doubles.tiktok_double import TikTokDouble, start_tiktok_double
from tests.doubles.youtube_double import YouTubeDouble, start_youtube_double

YT, TT, META = "yt-LOOP-MARKER-31c9", "tt-LOOP-MARKER-8d02", "meta-LOOP-MARKER-55af"
TT_CHUNK = 64 * 1024
YT_CHUNK = 256 * 1024
HOOKS = ["Wet feet again?", "Built for the storm"]
START = datetime(2030, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def doubles(monkeypatch: pytest.MonkeyPatch
            ) -> Iterator[tuple[YouTubeDouble, TikTokDouble, MetaDouble]]:
    yt, tt, meta = (start_youtube_double(YT), start_tiktok_double(TT, min_chunk=TT_CHUNK),
                    start_meta_double(META))
    meta.processing_polls = 0
    for name, value in {"NBVIDEO_YOUTUBE_TOKEN": YT, "NBVIDEO_YOUTUBE_BASE_URL": yt.base_url,
                        "NBVIDEO_TIKTOK_TOKEN": TT, "NBVIDEO_TIKTOK_BASE_URL": tt.base_url,
                        "NBVIDEO_META_TOKEN": META, "NBVIDEO_META_BASE_URL": meta.base_url,
                        "NBVIDEO_INSTAGRAM_USER_ID": meta.user_id}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("NBVIDEO_TIKTOK_PRIVACY", raising=False)
    real = publishing.publisher_for

    def small(platform: str) -> Publisher:
        """Each platform's real client, with chunks the doubles take and no pauses."""
        if platform == "tiktok":
            return TikTokPublisher(chunk_bytes=TT_CHUNK, chunk_min=TT_CHUNK, poll_s=(0.01,))
        if platform == "instagram":
            return InstagramReels(chunk_bytes=YT_CHUNK, poll_s=(0.01,))
        pub = real(platform)
        assert isinstance(pub, YouTubePublisher)
        pub.chunk_bytes, pub.retry_pause_s, pub.poll_s = YT_CHUNK, 0.0, (0.0,)
        return pub

    monkeypatch.setattr(publishing, "publisher_for", small)
    yield yt, tt, meta
    for d in (yt, tt, meta):
        d.stop()


@pytest.mark.slow
def test_a_campaign_is_posted_everywhere_measured_and_its_winner_followed_up(
        tmp_path: Path, doubles: tuple[YouTubeDouble, TikTokDouble, MetaDouble]) -> None:
    yt, tt, meta = doubles
    # 5 s, TikTok's shortest: six platform packages are rendered at 1080x1920, 30 fps
    with nv.Project.open(tmp_path / "shoe", brief=BRIEF, aspect="9:16", duration_s=5.0,
                         resolution="720p", fps=12) as base:
        base.finish(music="bed")
        c = nv.variants(base, hooks=HOOKS, path=tmp_path / "camp")
    assert (c.run(cluster="inline", progress=False)["status"] == "done").all()
    made = c.package(["tiktok", "reels", "shorts"], accept=True)
    assert made["error"].isna().all() and len(made) == 6

    # scheduled: each platform's posts an hour apart per variant
    for platform in ("youtube", "tiktok", "instagram"):
        rows = c.publish(platform, START, stagger=timedelta(hours=1))
        assert list(rows["status"]) == ["scheduled", "scheduled"], rows["error"].tolist()
    assert len(nv.calendar(c.path)) == 6

    # 09:30: the first variant's three posts are due; TikTok's connection drops mid-file
    tt.fail("drop", on="upload", after=1)
    first = run_due(find_projects(c.path), now=START + timedelta(minutes=30))
    by_platform = first.set_index("platform")["status"].to_dict()
    assert by_platform == {"youtube": "posted", "instagram": "posted", "tiktok": "uploading"}
    # the next run carries it on in the same upload session: one init, one whole video
    again = run_due(find_projects(c.path), now=START + timedelta(minutes=35))
    assert list(again["status"]) == ["posted"] and tt.inits == 1 and len(tt.videos()) == 1
    # 10:30: the second variant's
    second = run_due(find_projects(c.path), now=START + timedelta(minutes=90))
    assert sorted(second["status"]) == ["posted"] * 3
    posts = c.posts
    assert len(posts) == 6 and (posts["status"] == "posted").all()
    assert tt.inits == 2 and meta.publishes == 2 and yt.inserts == 2  # never twice

    # a week later each platform's analytics has numbers: the second hook engages more
    for _, post in posts.iterrows():
        winner_side = post["variant"] == c.results["variant"][1]
        views = 4000
        eng = (260, 60, 40) if winner_side else (120, 20, 20)  # likes, shares, comments
        if post["platform"] == "youtube":
            yt.analytics[post["remote_id"]] = {
                "views": views, "estimatedMinutesWatched": 300, "averageViewDuration": 5,
                "averageViewPercentage": 62.0, "likes": eng[0], "shares": eng[1],
                "comments": eng[2]}
        elif post["platform"] == "tiktok":
            public = re.search(r"/video/(\d+)", post["remote_url"]).group(1)
            tt.video_stats[public] = {"view_count": views, "like_count": eng[0],
                                      "share_count": eng[1], "comment_count": eng[2]}
        else:
            meta.insights[post["remote_id"]] = {"views": views, "likes": eng[0],
                                                "shares": eng[1], "comments": eng[2],
                                                "ig_reels_avg_watch_time": 5000}
    perf = nv.performance(c.path)
    assert len(perf) == 6 and perf["error"].isna().all()
    assert set(perf["platform"]) == {"youtube", "tiktok", "instagram"}
    assert (perf["views"] == 4000).all() and set(perf["hook"]) == set(HOOKS)
    for secret in (YT, TT, META):
        assert secret not in perf.to_csv()

    w = c.winner("engagement_rate")
    assert w.variant == c.results["variant"][1] and w.decided and w.confidence > 0.99

    nxt = c.more_like(w, n=2)
    assert nxt.origin is not None and nxt.origin.variant == w.variant
    assert (nxt.run(cluster="inline", progress=False)["status"] == "done").all()
    for v in nxt.results["variant"]:
        q = nxt.project(v, read_only=True)
        assert q.state.scenes[0].on_screen_text == HOOKS[1]
        assert q.state.finishing.music == "bed"
