"""A fast start: `import nbvideo`, `nbvideo --version` and `nbvideo ls` load only what they use.

What a user waits for is what gets imported, so these tests look at that, in a fresh process,
rather than at a clock (benchmarks/bench_startup.py prints the times). The public API must not
notice: every name the package exports still resolves, is listed, and can be imported by name.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import nbvideo as nv

PHASES = ["nbvideo.plan", "nbvideo.generate", "nbvideo.edit", "nbvideo.sound",
          "nbvideo.render", "nbvideo.deliver"]
HEAVY = ["pandas", "numpy", "PIL", "anywidget", "matplotlib", "openai", "replicate", "dask",
         "distributed", "av", "nbvideo.widgets", *PHASES]

# Run a command as the console script does, then report which modules it imported.
CLI = """
import json, sys
from nbvideo.cli import main
try:
    main(sys.argv[1:], prog_name="nbvideo")
except SystemExit as exc:
    code = exc.code
print("MODULES " + json.dumps(sorted(sys.modules)))
sys.exit(code)
"""


def loaded(found: list[str], names: list[str]) -> list[str]:
    """Which of `names` (packages or modules) were imported, counting their submodules."""
    return sorted({n for n in names for m in found if m == n or m.startswith(n + ".")})


def modules_after(code: str, *args: str) -> tuple[list[str], str]:
    run = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    out, _, listing = run.stdout.rpartition("MODULES ")
    return json.loads(listing), out


def test_import_nbvideo_loads_no_dataframes_images_widgets_or_phases() -> None:
    found, _ = modules_after("import json, sys, nbvideo\nprint('MODULES ' + "
                             "json.dumps(sorted(sys.modules)))")
    assert loaded(found, [*HEAVY, "pydantic", "nbvideo.project", "nbvideo.campaign"]) == []


def test_version_does_not_import_the_project_stack() -> None:
    found, out = modules_after(CLI, "--version")
    assert f"version {nv.__version__}" in out
    assert loaded(found, [*HEAVY, "pydantic", "nbvideo.project", "nbvideo.campaign",
                          "nbvideo.model.state", "nbvideo.store", "nbvideo.providers",
                          "nbvideo.runtime", "nbvideo.overview"]) == []


def test_ls_reads_projects_without_pandas_the_phases_widgets_or_providers(fresh: nv.Project,
                                                                   tmp_path: Path) -> None:
    fresh.close()
    found, out = modules_after(CLI, "ls", str(tmp_path))
    assert fresh.path.name in out
    assert loaded(found, [*HEAVY, "nbvideo.project", "nbvideo.campaign", "nbvideo.providers",
                          "nbvideo.runtime"]) == []


def test_every_public_name_resolves_and_is_listed() -> None:
    listed = dir(nv)
    for name in nv.__all__:
        assert getattr(nv, name) is not None, name
        assert name in listed, name
    from nbvideo.project import Project
    from nbvideo.store.brands import list_brands

    assert nv.Project is Project and nv.list_brands is list_brands


def test_from_nbvideo_import_works_for_every_public_name_in_a_fresh_process() -> None:
    code = ("import nbvideo\nfor name in nbvideo.__all__:\n"
            "    exec(f'from nbvideo import {name}')\n    assert name in dir(nbvideo), name\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_thing"):
        nv.no_such_thing  # noqa: B018
