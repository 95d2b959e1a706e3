"""Catalog, estimates before spending, and budgets refused before a request leaves."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import nbvideo as nv
from nbvideo.providers import catalog
from nbvideo.providers.base import ClipRequest, MediaResult
from nbvideo.providers.local import LocalAnimatic
from tests.conftest import SMALL

PAID = catalog.ModelSpec(
    id="test-paid-animatic", provider="local", kind="video", ref="test/paid",
    title="A priced animatic for budget tests", price_basis="per_second",
    prices_usd={"720p": 0.10, "1080p": 0.20}, min_duration_s=1, max_duration_s=15,
    aspects=("16:9", "9:16", "1:1", "4:5"), resolutions={"720p": "720p", "1080p": "1080p"},
    max_concurrency=2,
)


class PricedAnimatic(LocalAnimatic):
    """The real local renderer, billed like a paid per-second model; remembers its calls."""

    model = PAID.id

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def clip(self, req: ClipRequest, out: Path) -> MediaResult:
        self.calls.append(req.duration_s)
        result = await super().clip(req, out)
        usage = catalog.price(PAID, resolution="720p", seconds=result.duration_s or 0)
        return result.model_copy(update={"usage": usage})


@pytest.fixture
def paid(rendered: nv.Project) -> Iterator[tuple[nv.Project, PricedAnimatic]]:
    catalog.register(PAID)
    video = PricedAnimatic()
    rt = rendered._rt
    rt.providers = dataclasses.replace(rt.providers, video=video)
    yield rendered, video
    catalog._CATALOG.pop(PAID.id, None)


def test_catalog_lists_models_with_prices_and_limits() -> None:
    df = nv.catalog()
    wan = df.set_index("model").loc["wan-2.5-i2v-fast"]
    assert wan["provider"] == "replicate" and wan["price_basis"] == "per_second"
    assert "720p: 0.068" in wan["prices_usd"] and wan["durations_s"] == "5, 10"
    assert {"flux-schnell", "kling-v2.1", "veo-3-fast", "hailuo-02", "gpt-4o-mini"} <= set(df["model"])


def test_estimate_prices_each_scene_and_says_what_is_trimmed(rendered: nv.Project) -> None:
    est = rendered.estimate(model="wan-2.5-i2v-fast")
    total, body = est.iloc[0], est.iloc[1:]
    assert total["scene"] == "total"
    assert len(body) == len(rendered.scenes)
    assert (body["generated_s"] == 5.0).all()  # every 8 s / 3-scene clip is under 5 s
    assert body["cost_usd"].tolist() == pytest.approx([0.34] * len(body))
    assert total["cost_usd"] == pytest.approx(0.34 * len(body))
    assert body["note"].str.contains("trimmed in the timeline").all()
    assert rendered.spent_usd == 0  # nothing was spent to estimate


def test_estimate_flags_an_aspect_the_model_cannot_make(tmp_path: Path) -> None:
    p = nv.Project.open(tmp_path / "p", brief="15s ad for a reusable water bottle",
                        aspect="4:5", duration_s=15)
    p.storyboard()
    est = p.estimate(model="veo-3-fast")
    assert est.iloc[1:]["note"].str.contains("cannot make 4:5").all()
    p.close()


def test_estimate_of_current_clips_on_the_local_model_is_free(rendered: nv.Project) -> None:
    est = rendered.estimate()
    assert est.iloc[0]["cost_usd"] == 0
    assert est.iloc[1:]["note"].str.contains("current").all()


def test_unknown_model_names_the_known_ones(rendered: nv.Project) -> None:
    with pytest.raises(nv.InvalidInput, match="known models: .*wan-2.5-i2v-fast"):
        rendered.estimate(model="sora-9")


def test_project_budget_refuses_the_clip_that_would_pass_it(paid) -> None:
    p, video = paid
    total = sum(s.duration_s for s in p.scenes) * 0.10
    p.budget_usd = round(total - 0.05, 2)  # room for all but part of one clip
    job = p.generate_clips()
    with pytest.raises(nv.BudgetExceeded, match="over the project budget"):
        job.wait()
    df = p.costs
    refused = df[df["status"] == "refused"]
    assert len(refused) >= 1
    assert "over the project budget" in refused.iloc[0]["note"]
    assert p.spent_usd <= p.budget_usd + 1e-9
    assert len(video.calls) == len(p.scenes) - len(refused)  # refused ones never left
    paid_rows = df[(df["status"] == "succeeded") & (df["model"] == PAID.id)]
    assert paid_rows["cost_usd"].sum() == pytest.approx(paid_rows["estimated_usd"].sum())


def test_a_logged_cost_is_counted_once_while_its_call_finishes(tmp_path: Path) -> None:
    """Between a call's cost row and the end of its block (audit, files), a second call of
    the same project sees those dollars once: as spend, with only the rest of the estimate
    still held. Before, it saw them in the ledger and in flight, and was refused."""
    p = nv.Project.open(tmp_path / "p", brief="8s ad for a sock", **SMALL)
    p.budget_usd = 0.10
    rt = p.runtime

    def logged(usd: float, estimate: float) -> Any:
        return rt.paid(phase="clips", provider="replicate", model="fake-paid-video",
                       estimate_usd=estimate, item=f"a ${usd} clip")

    with logged(0.04, 0.06) as held:
        held.actual_usd = 0.04
        rt.log(phase="clips", provider="replicate", model="fake-paid-video", cost_usd=0.04)
        with logged(0.04, 0.04) as second:  # 0.04 spent + 0.02 left held + 0.04 = the cap
            second.actual_usd = 0.04
            rt.log(phase="clips", provider="replicate", model="fake-paid-video", cost_usd=0.04)
        with pytest.raises(nv.BudgetExceeded, match=r"\$0\.08 spent \+ \$0\.02 in flight"):
            with logged(0.01, 0.01):
                pass
    assert p.spent_usd == pytest.approx(0.08) and rt.budget.in_flight == {}
    p.close()


def test_call_budget_caps_one_call_and_the_error_has_the_numbers(paid) -> None:
    p, video = paid
    first = p.scene(1)
    job = p.generate_clips(scenes=[first.id], budget_usd=0.01)
    with pytest.raises(nv.BudgetExceeded) as err:
        job.wait()
    cause = err.value
    assert cause.budget == "budget of this call" and cause.limit_usd == 0.01
    assert cause.spent_usd == 0 and cause.estimate_usd == pytest.approx(first.duration_s * 0.10)
    assert cause.item == f"clip for scene {first.id}"
    assert "$0.00 spent" in str(cause) and "budget of this call of $0.01" in str(cause)
    assert video.calls == []
    ok = p.generate_clips(scenes=[first.id], budget_usd=5).wait()
    assert ok[0].cost_usd == pytest.approx(first.duration_s * 0.10)
    assert p.spent_usd == pytest.approx(first.duration_s * 0.10)


def test_bad_budget_values_are_refused(rendered: nv.Project) -> None:
    with pytest.raises(nv.InvalidInput, match="budget_usd"):
        rendered.budget_usd = -1
    with pytest.raises(nv.InvalidInput, match="budget_usd"):
        rendered.generate_clips(budget_usd="lots")
