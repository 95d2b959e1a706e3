"""Where published videos go: one client per platform, behind one small interface.

`base.Publisher` is what the publish step (deliver/publish.py) drives: open an upload
session, ask the platform how much it has, send a chunk, finish, check processing. Each
platform's client maps those onto its own API; `dryrun.DryRunPlatform` is a platform on the
local disk that needs no account, for demos, notebooks under nbval and the tests;
`tiktok.TikTokPublisher` posts through TikTok's Content Posting API,
`meta.InstagramReels` posts Reels through the Instagram Graph API,
`facebook.FacebookPublisher` posts Reels and videos on a Facebook Page through the Graph
API's Video API and `youtube.YouTubePublisher` posts through the YouTube Data API v3.

`Publisher.metrics(post)` reads a posted video's numbers back (deliver/performance.py makes
the frame): YouTube Analytics, TikTok's video query, Instagram media insights, and the
dry-run platform's metrics file or simulated audience.
"""

from __future__ import annotations

from nbvideo.deliver.platforms.base import (
    MetricsFailed,
    NoAnalytics,
    Publisher,
    PublishFailed,
    Remote,
)
from nbvideo.deliver.platforms.dryrun import DryRunPlatform
from nbvideo.deliver.platforms.tiktok import TikTokPublisher

__all__ = ["DryRunPlatform", "MetricsFailed", "NoAnalytics", "PublishFailed", "Publisher",
           "Remote", "TikTokPublisher", "publisher_for"]


def publisher_for(platform: str) -> Publisher:
    """The client for `platform`, set up from the environment."""
    if platform == "dry-run":
        return DryRunPlatform()
    if platform == "tiktok":
        return TikTokPublisher()
    if platform == "instagram":
        from nbvideo.deliver.platforms.meta import InstagramReels

        return InstagramReels()
    if platform == "facebook":
        from nbvideo.deliver.platforms.facebook import FacebookPublisher

        return FacebookPublisher()
    if platform == "youtube":
        from nbvideo.deliver.platforms.youtube import YouTubePublisher

        return YouTubePublisher()
    raise PublishFailed(f"publishing to {platform} is not available in this version; "
                        "use platform='dry-run' to rehearse, or upload the package folder by "
                        "hand (see its upload.txt)")
