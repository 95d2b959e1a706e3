"""nbvideo: from an ad brief to a finished video inside JupyterLab.

>>> import nbvideo as nv
>>> p = nv.Project.open("projects/trail-shoe", brief="30s ad for a waterproof trail shoe")  # doctest: +SKIP
"""

from nbvideo import views as _views
from nbvideo.campaign import Campaign, batch, variants
from nbvideo.errors import (
    BudgetExceeded,
    Canceled,
    GlyphWarning,
    InvalidInput,
    ModelRetired,
    ModelRetiring,
    NbvideoError,
    PhaseNotReady,
    PriceStale,
    ProjectCorrupt,
    ProjectLocked,
    ProjectNotFound,
    ProjectStale,
    RenderFailed,
    RoutingWarning,
    SceneCanceled,
    ScenesFailed,
    ScenesRefused,
    SchemaTooNew,
)
from nbvideo.keys import MissingKey, set_keys
from nbvideo.model.templates import TemplateError
from nbvideo.model.templates import templates_frame as templates
from nbvideo.overview import projects, spend_chart
from nbvideo.project import Project
from nbvideo.providers.base import ProviderError
from nbvideo.providers.catalog import catalog_frame as catalog
from nbvideo.store.brands import list_brands, load_brand

__version__ = "0.1.0"


def _load_widgets():  # type: ignore[no-untyped-def]
    """The live widget layer, imported the first time a widget is shown (see views.serve_live)."""
    from nbvideo import widgets

    return widgets


_views.serve_live(_load_widgets)


def open_project(path: str, brief: str | None = None, **options: object) -> Project:
    """Same as Project.open: create or reopen the project at `path`."""
    return Project.open(path, brief, **options)


__all__ = [
    "BudgetExceeded",
    "Campaign",
    "Canceled",
    "InvalidInput",
    "MissingKey",
    "ModelRetired",
    "ModelRetiring",
    "NbvideoError",
    "PhaseNotReady",
    "PriceStale",
    "Project",
    "ProjectCorrupt",
    "ProjectLocked",
    "ProjectNotFound",
    "ProjectStale",
    "ProviderError",
    "RenderFailed",
    "GlyphWarning",
    "RoutingWarning",
    "SceneCanceled",
    "ScenesFailed",
    "ScenesRefused",
    "SchemaTooNew",
    "TemplateError",
    "batch",
    "catalog",
    "list_brands",
    "load_brand",
    "open_project",
    "projects",
    "set_keys",
    "spend_chart",
    "templates",
    "variants",
]
