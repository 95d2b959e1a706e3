"""nbvideo: from an ad brief to a finished video inside JupyterLab.

>>> import nbvideo as nv
>>> p = nv.Project.open("projects/trail-shoe", brief="30s ad for a waterproof trail shoe")  # doctest: +SKIP

Importing the package is cheap: each public name below is imported the first time it is used
(PEP 562), so `nbvideo --version` or `nbvideo ls` does not pay for pandas, the phases or the
widgets it never touches. The `TYPE_CHECKING` imports tell type checkers and the API
reference what each name is.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

from nbvideo import views as _views
from nbvideo.errors import (
    AuditBroken,
    BudgetExceeded,
    Canceled,
    ClusterUnavailable,
    GlyphWarning,
    InvalidInput,
    ModelRetired,
    ModelRetiring,
    NbvideoError,
    PhaseNotReady,
    PriceStale,
    ProductImageSkipped,
    ProjectCorrupt,
    ProjectExists,
    ProjectLocked,
    ProjectNotFound,
    ProjectStale,
    RenderFailed,
    RoleRefused,
    RoutingWarning,
    SceneCanceled,
    ScenesFailed,
    ScenesRefused,
    SchemaTooNew,
)

if TYPE_CHECKING:
    from nbvideo.campaign import Campaign, batch, variants
    from nbvideo.charts import performance_chart
    from nbvideo.deliver.performance import performance
    from nbvideo.keys import MissingKey, set_keys
    from nbvideo.library import AssetLibrary, assets
    from nbvideo.marketplace import install_pack, new_pack, remove_pack, template_packs
    from nbvideo.model.effects import looks
    from nbvideo.model.templates import TemplateError
    from nbvideo.model.templates import templates_table as templates
    from nbvideo.overview import calendar, calendar_chart, projects, spend_chart
    from nbvideo.project import Project, sound_effects
    from nbvideo.providers.base import ProviderError
    from nbvideo.providers.catalog import catalog_table as catalog
    from nbvideo.providers.voice_table import voices_table as voices
    from nbvideo.render.transition_strips import transitions_table as transitions
    from nbvideo.store.brands import list_brands, load_brand
    from nbvideo.team import (
        audit,
        create_workspace,
        roles_from_groups,
        set_budget,
        set_role,
        usage,
        usage_chart,
        verify_audit,
        workspace,
    )

__version__ = "0.1.0"

# public name -> (module, name in it): imported on first use by __getattr__ below.
_LAZY: dict[str, tuple[str, str]] = {
    "Campaign": ("nbvideo.campaign", "Campaign"),
    "batch": ("nbvideo.campaign", "batch"),
    "variants": ("nbvideo.campaign", "variants"),
    "MissingKey": ("nbvideo.keys", "MissingKey"),
    "set_keys": ("nbvideo.keys", "set_keys"),
    "AssetLibrary": ("nbvideo.library", "AssetLibrary"),
    "assets": ("nbvideo.library", "assets"),
    "TemplateError": ("nbvideo.model.templates", "TemplateError"),
    "looks": ("nbvideo.model.effects", "looks"),
    "templates": ("nbvideo.model.templates", "templates_table"),
    "template_packs": ("nbvideo.marketplace", "template_packs"),
    "install_pack": ("nbvideo.marketplace", "install_pack"),
    "remove_pack": ("nbvideo.marketplace", "remove_pack"),
    "new_pack": ("nbvideo.marketplace", "new_pack"),
    "projects": ("nbvideo.overview", "projects"),
    "calendar": ("nbvideo.overview", "calendar"),
    "calendar_chart": ("nbvideo.overview", "calendar_chart"),
    "spend_chart": ("nbvideo.overview", "spend_chart"),
    "performance": ("nbvideo.deliver.performance", "performance"),
    "performance_chart": ("nbvideo.charts", "performance_chart"),
    "Project": ("nbvideo.project", "Project"),
    "sound_effects": ("nbvideo.project", "sound_effects"),
    "ProviderError": ("nbvideo.providers.base", "ProviderError"),
    "catalog": ("nbvideo.providers.catalog", "catalog_table"),
    "voices": ("nbvideo.providers.voice_table", "voices_table"),
    "transitions": ("nbvideo.render.transition_strips", "transitions_table"),
    "list_brands": ("nbvideo.store.brands", "list_brands"),
    "load_brand": ("nbvideo.store.brands", "load_brand"),
    "audit": ("nbvideo.team", "audit"),
    "create_workspace": ("nbvideo.team", "create_workspace"),
    "roles_from_groups": ("nbvideo.team", "roles_from_groups"),
    "set_budget": ("nbvideo.team", "set_budget"),
    "set_role": ("nbvideo.team", "set_role"),
    "usage": ("nbvideo.team", "usage"),
    "usage_chart": ("nbvideo.team", "usage_chart"),
    "verify_audit": ("nbvideo.team", "verify_audit"),
    "workspace": ("nbvideo.team", "workspace"),
}


def __getattr__(name: str) -> Any:
    """A public name's object, imported the first time it is asked for and kept. A submodule
    (`nv.project`, `nv.widgets`) is imported on first use too, as it was when the package
    imported everything at once."""
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    if not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


def _load_widgets():  # type: ignore[no-untyped-def]
    """The live widget layer, imported the first time a widget is shown (see views.serve_live)."""
    from nbvideo import widgets

    return widgets


_views.serve_live(_load_widgets)


def open_project(path: str, brief: str | None = None, **options: object) -> Project:
    """Same as Project.open: create or reopen the project at `path`."""
    from nbvideo.project import Project

    return Project.open(path, brief, **options)


__all__ = [
    "AssetLibrary",
    "AuditBroken",
    "BudgetExceeded",
    "Campaign",
    "Canceled",
    "ClusterUnavailable",
    "InvalidInput",
    "MissingKey",
    "ModelRetired",
    "ModelRetiring",
    "NbvideoError",
    "PhaseNotReady",
    "PriceStale",
    "ProductImageSkipped",
    "Project",
    "ProjectCorrupt",
    "ProjectExists",
    "ProjectLocked",
    "ProjectNotFound",
    "ProjectStale",
    "ProviderError",
    "RenderFailed",
    "RoleRefused",
    "GlyphWarning",
    "RoutingWarning",
    "SceneCanceled",
    "ScenesFailed",
    "ScenesRefused",
    "SchemaTooNew",
    "TemplateError",
    "assets",
    "audit",
    "batch",
    "calendar",
    "calendar_chart",
    "catalog",
    "create_workspace",
    "install_pack",
    "list_brands",
    "load_brand",
    "looks",
    "new_pack",
    "open_project",
    "performance",
    "performance_chart",
    "projects",
    "remove_pack",
    "roles_from_groups",
    "set_budget",
    "set_keys",
    "set_role",
    "sound_effects",
    "spend_chart",
    "template_packs",
    "templates",
    "transitions",
    "usage",
    "usage_chart",
    "variants",
    "verify_audit",
    "voices",
    "workspace",
]
