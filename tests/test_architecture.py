"""The house holds: no import cycles anywhere in nbvideo, and the layer contracts are real.

import-linter's layer contract (pyproject.toml) stops arrows between packages; a cycle between
two modules of the same package (two files in plan/, say) would slip past it. This finds every
cycle among nbvideo's modules, as Python runs them (imports only for type annotations never run,
so they are not followed, as in the contracts).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_no_nbvideo_module_takes_part_in_an_import_cycle():
    graph = grimp.build_graph("nbvideo", cache_dir=None, exclude_type_checking_imports=True)
    cycles = _cycles(graph)
    assert not cycles, "import cycles (a seam is in the wrong place): " + "; ".join(
        " <-> ".join(c) for c in cycles)


def test_the_cycle_finder_finds_a_cycle(tmp_path: Path):
    """The check above cannot pass vacuously: two modules importing each other are found."""
    pkg = tmp_path / "loopy"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from loopy import b\n")
    (pkg / "b.py").write_text("from loopy import a\n")
    (pkg / "c.py").write_text("from loopy import a\n")
    sys.path.insert(0, str(tmp_path))
    try:
        graph = grimp.build_graph("loopy", cache_dir=None)
    finally:
        sys.path.remove(str(tmp_path))
    assert _cycles(graph) == [["loopy.a", "loopy.b"]]


@pytest.mark.parametrize("source, line", [
    ("nbvideo/model/look.py", "from nbvideo.store import folder"),
    ("nbvideo/plan/questions.py", "from nbvideo.render import export"),
    ("nbvideo/widgets/board.py", "from nbvideo.providers import catalog"),
])
def test_an_import_the_wrong_way_fails_lint_imports_and_names_it(tmp_path: Path, source: str,
                                                                  line: str):
    """A copy of the package with one upward import added: lint-imports fails and its report
    names the importing module, the imported one and the line."""
    copy = tmp_path / "src"
    shutil.copytree(ROOT / "src" / "nbvideo", copy / "nbvideo",
                    ignore=shutil.ignore_patterns("__pycache__", "static", "data"))
    target = copy / source
    target.write_text(target.read_text() + "\n" + line + "  # noqa\n")
    (tmp_path / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
    lint = Path(sys.executable).with_name("lint-imports")
    run = subprocess.run([str(lint), "--no-cache"], cwd=tmp_path, capture_output=True, text=True,
                         env={"PYTHONPATH": str(copy), "PATH": "/usr/bin:/bin"})
    assert run.returncode != 0, run.stdout
    importer = source.removesuffix(".py").replace("/", ".")
    imported = line.split()[1] + "." + line.split()[3]
    assert f"{importer} -> {imported}" in run.stdout, textwrap.shorten(run.stdout, 2000)
