"""What a campaign keeps on disk: its variants (each a full recipe for one project) and results.

    <campaign>/campaign.json      CampaignState: variant specs and the last result of each
    <campaign>/budget.json        the shared budget (pipeline/shared_budget.py)
    <campaign>/ledger.jsonl       planner calls made for the campaign as a whole
    <campaign>/.shared/           the content-addressed asset store (pipeline/shared.py)
    <campaign>/finishing/<sha256> the base project's music, brand kit and logo files
    <campaign>/variants/<id>/     one ordinary nbvideo project per variant

A variant's spec holds everything its worker needs (brief, answers, the planned scenes with the
variant's edits, models, export), so a worker needs no notebook state, only the folder. Its
digest says whether a finished result still answers it: a re-run skips a variant whose last
result is done for the same digest and whose exports are on disk.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import re
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator

from nbvideo.errors import ProjectCorrupt
from nbvideo.model.checked import Checked
from nbvideo.model.state import (
    Aspect,
    Beat,
    Brief,
    Finishing,
    Fit,
    Question,
    Scene,
    Timeline,
    utcnow,
)
from nbvideo.model.vocabulary import DEFAULT_POLICY
from nbvideo.runtime.context import canonical
from nbvideo.store.folder import atomic_write_bytes

CAMPAIGN_FILE = "campaign.json"
FINISHING_DIR = "finishing"  # the base project's finishing files, by sha256
_SHA = re.compile(r"^[0-9a-f]{64}$")
SCHEMA_VERSION = 1
Status = Literal["pending", "done", "failed", "refused"]


class _Model(Checked):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Market(_Model):
    """A market's changes to the ad: its end-card copy and any on-screen text per beat.

    Only the scenes it changes are made again; the others are shared with every market."""

    name: str = Field(min_length=1, max_length=60)
    cta: str | None = Field(None, max_length=200, description="On-screen text of the end card.")
    copy_lines: dict[Beat, str] = Field(default_factory=dict, alias="copy")


class VariantSpec(_Model):
    """One variant: the recipe for one project of the campaign."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,100}$")
    market: str | None = None
    hook: str | None = None
    duration_s: float
    aspect: Aspect
    project: str = Field(description="Folder of its project, relative to the campaign.")
    providers: str = "local"
    models: dict[Literal["text", "image", "video"], str] = Field(default_factory=dict)
    provider_options: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Per vendor, e.g. polling hints; as the base project.")
    seed: int = 7
    brief: Brief
    questions: list[Question] = Field(default_factory=list)
    answers: dict[str, str] = Field(default_factory=dict)
    palette: list[str] = Field(default_factory=list)
    title: str = ""
    structure: str = ""
    scenes: list[Scene] = Field(min_length=1)
    timeline: Timeline = Field(default_factory=Timeline)
    model: str | None = Field(None, description="Video model for its clips (None: default).")
    policy: str = Field(DEFAULT_POLICY, description="How model='auto' routes its clips; "
                        "the project's default. A saved spec keeps the policy it was saved with.")
    export_name: str = "ad"
    fit: Fit = "crop"
    finishing: Finishing | None = Field(None, description="The base project's finishing "
                                        "(voice, music, brand, captions); None: none set.")
    files: dict[str, str] | None = Field(None, description="Files of the base project its "
                                         "finishing names (music, brand kit, logo): path in "
                                         "the project -> sha256, kept under finishing/.")

    @field_validator("files")
    @classmethod
    def _files(cls, v: dict[str, str] | None) -> dict[str, str] | None:
        for rel, sha in (v or {}).items():
            parts = PurePosixPath(rel).parts
            if (not parts or rel.startswith("/") or ".." in parts or "\\" in rel
                    or "\x00" in rel or ":" in rel):
                raise ValueError(f"files: {rel!r} must be a path inside the project")
            if not _SHA.match(sha):
                raise ValueError(f"files: {rel!r} must map to a sha256, got {sha!r}")
        return v

    def digest(self) -> str:
        """Hash of the recipe: a result for another digest is out of date. Fields a spec
        made before they existed does not set are left out, so its digest stays the same."""
        later = {k for k in ("finishing", "files") if getattr(self, k) is None}
        doc = self.model_dump(mode="json", exclude=later)
        return hashlib.sha256(canonical(doc).encode()).hexdigest()[:16]


class VariantResult(_Model):
    """One row of the campaign's results table."""

    variant: str
    project: str
    status: Status = "pending"
    exports: list[str] = Field(default_factory=list, description="Relative to the project.")
    cost_usd: float = 0.0
    estimate_usd: float = 0.0
    frames_made: int = 0
    frames_shared: int = 0
    clips_made: int = 0
    clips_shared: int = 0
    seconds: float = 0.0
    cpu_s: float = Field(0.0, description="CPU seconds the variant took in its process, its "
                         "threads and the ffmpeg it ran (wall time is `seconds`).")
    error: str | None = None
    digest: str = ""
    worker: str = ""
    finished_at: _dt.datetime | None = None


class Origin(_Model):
    """Where a follow-up campaign (`Campaign.more_like`) came from."""

    campaign: str = Field(description="The source campaign's folder.")
    variant: str = Field(description="Its winning variant, whose recipe this one keeps.")
    metric: str | None = Field(None, description="What it won on (None: picked by hand).")
    value: float | None = None
    confidence: float | None = Field(None, ge=0, le=1)
    decided: bool | None = None
    vary: str = Field(description="The axis this campaign varies: cta, seed or market.")
    values: list[str] = Field(default_factory=list, description="What each variant tries.")
    at: _dt.datetime = Field(default_factory=utcnow)


class CampaignState(_Model):
    schema_version: int = SCHEMA_VERSION
    name: str
    created_at: _dt.datetime = Field(default_factory=utcnow)
    base: str | None = Field(None, description="The project the variants were made from.")
    budget_usd: float | None = Field(None, ge=0)
    variants: list[VariantSpec] = Field(default_factory=list)
    results: dict[str, VariantResult] = Field(default_factory=dict)
    origin: Origin | None = Field(None, description="Set when made by more_like().")
    stocked: list[str] = Field(default_factory=list, description=(
        "Scenes its asset store started with, by price key (runner.scene_prices): the source "
        "campaign's finished variants' scenes, for more_like(). Free in estimates and "
        "admission; the budget still holds any request that is made after all."))

    def spec(self, variant: str) -> VariantSpec:
        for v in self.variants:
            if v.id == variant:
                return v
        ids = ", ".join(v.id for v in self.variants)
        raise KeyError(f"no variant {variant!r}; variants: {ids}")


def load_state(root: Path) -> CampaignState:
    path = root / CAMPAIGN_FILE
    try:
        return CampaignState.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        raise
    except ValueError as exc:
        raise ProjectCorrupt(f"{path} cannot be read ({str(exc).splitlines()[0]}); it was "
                             f"left untouched") from None


def save_state(root: Path, state: CampaignState) -> None:
    root.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(root / CAMPAIGN_FILE, state.model_dump_json(indent=1).encode())
