"""A campaign's variants finished, packaged and posted together, on the dry-run platform.

Variants keep the base project's finishing (voice, music, brand kit and their files), so a
campaign made from a finished ad has sound and can go to a platform that needs it; every
finished variant gets its package, posts are staggered, each is its project's own post
(never twice), and `nbvideo publish --due CAMPAIGN` posts them when due."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import nbvideo as nv
from nbvideo.campaign.models import VariantSpec
from nbvideo.deliver.publish import run_due
from nbvideo.media.ffmpeg import ffmpeg_exe, probe
from nbvideo.model.state import Finishing
from nbvideo.overview import find_projects
from nbvideo.store.brands import brands_dir
from tests.conftest import BRIEF, SHORT

HOOKS = ["Wet feet again?", "Built for the storm"]


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> Iterator[nv.Campaign]:
    """Two variants of an ad finished with its own music file and brand kit, rendered once for
    the module (the render is most of these tests' time); the base project is `shoe` beside
    the campaign folder."""
    root = tmp_path_factory.mktemp("camp")
    # 5 s (TikTok's shortest too): the packages are rendered at 1080x1920, 30 fps
    with nv.Project.open(root / "shoe", brief=BRIEF, **SHORT) as base:
        song = base.path / "assets" / "music" / "song.wav"
        song.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i",
                        "sine=frequency=330:duration=10", str(song)], check=True)
        kits = base.path / "kits"
        kits.mkdir()
        kit = json.loads((brands_dir() / "lumen.json").read_text())
        kit["name"] = "Shoe Co"
        (kits / "shoe.json").write_text(json.dumps(kit))
        shutil.copy(brands_dir() / "lumen-logo.png", kits / "lumen-logo.png")
        # TikTok takes no silent video
        base.finish(music="assets/music/song.wav", brand="kits/shoe.json")
        c = nv.variants(base, hooks=HOOKS, path=root / "camp")
    assert (c.run(cluster="inline", progress=False)["status"] == "done").all()
    yield c


@pytest.mark.slow
def test_every_variant_is_packaged_then_posted_staggered_and_once(
        campaign: nv.Campaign) -> None:
    made = campaign.package("tiktok", accept=True)
    assert list(made["variant"]) == list(campaign.results["variant"])
    assert made["error"].isna().all() and set(made["preset"]) == {"tiktok"}
    for v in made["variant"]:
        folder = campaign.path / campaign.results.set_index("variant").loc[v, "project"] \
            / "packages" / "ad-tiktok"
        assert (folder / "metadata.json").is_file()

    start = datetime(2030, 1, 6, 9, 0, tzinfo=UTC)
    rows = campaign.publish("dry-run", start, stagger=timedelta(hours=1))
    assert list(rows["status"]) == ["scheduled", "scheduled"]
    assert [t.to_pydatetime() for t in rows["when"]] == [start, start + timedelta(hours=1)]
    # the same again is the same posts, not two more
    again = campaign.publish("dry-run", start, stagger=timedelta(hours=1))
    assert list(again["post"]) == list(rows["post"])

    # cron at 09:30 posts the first only; at 10:30 the second
    done = run_due(find_projects(campaign.path), now=start + timedelta(minutes=30))
    assert list(done["status"]) == ["posted"]
    done = run_due(find_projects(campaign.path), now=start + timedelta(minutes=90))
    assert list(done["status"]) == ["posted"]
    posts = campaign.posts
    assert list(posts["variant"]) == list(campaign.results["variant"])
    assert (posts["status"] == "posted").all() and posts["remote_id"].notna().all()
    videos = list((Path(os.environ["NBVIDEO_DRYRUN_PLATFORM"]) / "videos").glob("*/video.mp4"))
    assert len(videos) == 2
    cal = nv.calendar(campaign.path)
    assert len(cal) == 2 and set(cal["status"]) == {"posted"}


def test_bad_arguments_name_what_is_allowed(campaign: nv.Campaign) -> None:
    with pytest.raises(nv.InvalidInput, match="variants: no variant 'nope'; variants: h1-"):
        campaign.package("tiktok", variants=["nope"])
    with pytest.raises(nv.InvalidInput, match="stagger must be a datetime.timedelta"):
        campaign.publish("dry-run", "2030-01-06T09:00+00:00", stagger=3600)
    with pytest.raises(nv.InvalidInput, match="stagger needs when"):
        campaign.publish("dry-run", stagger=timedelta(hours=1))
    rows = campaign.publish("myspace")
    assert set(rows["status"]) == {"refused"}
    assert rows["error"].str.contains("platform must be one of youtube").all()
    assert campaign.posts["post"].isna().all() or "myspace" not in set(campaign.posts["platform"])


@pytest.mark.slow
def test_variants_keep_the_base_projects_music_file_and_brand_kit(
        campaign: nv.Campaign) -> None:
    c = campaign
    song = c.path.parent / "shoe" / "assets" / "music" / "song.wav"
    for v in c.results["variant"]:
        p = c.project(v, read_only=True)
        assert p.state.finishing.music == "assets/music/song.wav"
        assert p.state.finishing.brand == "kits/shoe.json"
        assert (p.path / "assets/music/song.wav").read_bytes() == song.read_bytes()
        assert (p.path / "kits/lumen-logo.png").is_file()
        assert probe(p.path / c.results.set_index("variant").loc[v, "exports"][0]).has_audio
    # a follow-up campaign keeps them too (more_like copies what its specs name)
    nxt = c.more_like(c.results["variant"][0], n=1, values=["Get yours"])
    assert (nxt.run(cluster="inline", progress=False)["status"] == "done").all()
    p = nxt.project(nxt.results["variant"][0], read_only=True)
    assert (p.path / "assets/music/song.wav").read_bytes() == song.read_bytes()
    assert probe(p.path / nxt.results["exports"][0][0]).has_audio


def test_a_spec_without_finishing_keeps_the_digest_it_had() -> None:
    """Campaigns saved before variants carried finishing must not all read as changed."""
    import hashlib

    from nbvideo.runtime.context import canonical

    spec = VariantSpec.model_validate(json.loads(SPEC))
    old = {k: v for k, v in spec.model_dump(mode="json").items()
           if k not in ("finishing", "files")}
    assert spec.digest() == hashlib.sha256(canonical(old).encode()).hexdigest()[:16]
    finished = spec.model_copy(update={"finishing": Finishing(music="bed")})
    assert finished.digest() != spec.digest()
    with pytest.raises(ValueError, match=r"files: '\.\./x' must be a path inside the project"):
        VariantSpec.model_validate({**json.loads(SPEC), "files": {"../x": "0" * 64}})


SPEC = json.dumps({
    "id": "h1-8s-16x9", "duration_s": 8.0, "aspect": "16:9", "project": "variants/h1-8s-16x9",
    "brief": {"text": BRIEF, "aspect": "16:9", "duration_s": 8.0},
    "scenes": [{"id": "s0123abcd", "beat": "hook", "title": "Hook", "duration_s": 8.0,
                "description": "A hiker on a wet trail", "visual_prompt": "wet trail"}]})
