"""The Binder environment: binder/ builds, and the quickstart runs in it offline with no keys.

A Binder launch runs repo2docker, which installs binder/apt.txt with apt-get and then
`pip install -r binder/requirements.txt` from the repository root. The slow test does the pip
half of that in a fresh virtualenv (one build for the module) and executes the quickstart
there with nbclient, so a pin that no longer installs, or a notebook that needs something the
pins lack, fails here rather than in front of a visitor.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
import tomllib
import venv
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from nbvideo.media.ffmpeg import probe

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"
QUICKSTART = ROOT / "notebooks" / "01-quickstart.ipynb"
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;#]+)$")


def binder_lines() -> list[str]:
    text = (BINDER / "requirements.txt").read_text()
    return [ln.split(" #")[0].strip() for ln in text.splitlines()
            if ln.strip() and not ln.lstrip().startswith("#")]


def pins() -> dict[str, Version]:
    out = {}
    for line in binder_lines():
        m = PIN.match(line)
        if m:
            out[canonicalize_name(m["name"])] = Version(m["version"])
    return out


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


# --------------------------------------------------------------------------- the files

def test_every_requirement_is_pinned_or_the_repo_itself() -> None:
    lines = binder_lines()
    loose = [ln for ln in lines if ln != "." and not PIN.match(ln)]
    assert not loose, f"binder/requirements.txt: not pinned with ==: {loose}"
    assert "." in lines, "binder/requirements.txt must install nbvideo itself (a '.' line)"
    names = [canonicalize_name(PIN.match(ln)["name"]) for ln in lines if ln != "."]
    assert len(names) == len(set(names)), "a package is pinned twice"


def test_pins_satisfy_pyproject_ranges() -> None:
    """Each dependency of nbvideo (extras included, e.g. dask[distributed] -> distributed) is
    pinned, at a version pyproject.toml allows."""
    have = pins()
    deps = [Requirement(d) for d in pyproject()["project"]["dependencies"]]
    wanted = {canonicalize_name(r.name): r.specifier for r in deps}
    if "dask" in wanted and any("distributed" in r.extras for r in deps if r.name == "dask"):
        wanted.setdefault("distributed", SpecifierSet())
    missing = sorted(n for n in wanted if n not in have)
    assert not missing, f"binder/requirements.txt pins none of: {missing}"
    wrong = {n: f"{have[n]} not in {spec}" for n, spec in wanted.items()
             if not spec.contains(have[n], prereleases=True)}
    assert not wrong, f"binder pins outside pyproject's ranges: {wrong}"
    for lab in ("jupyterlab", "ipykernel", "ipywidgets"):  # the Binder opens JupyterLab
        assert lab in have, f"binder/requirements.txt pins no {lab}"


def test_runtime_and_apt() -> None:
    runtime = (BINDER / "runtime.txt").read_text().strip()
    m = re.fullmatch(r"python-(\d+\.\d+)", runtime)
    assert m, f"binder/runtime.txt: expected python-X.Y, got {runtime!r}"
    requires = SpecifierSet(pyproject()["project"]["requires-python"])
    assert requires.contains(Version(m[1] + ".0")), f"{runtime} is outside {requires}"
    apt = [ln.partition("#")[0].strip() for ln in (BINDER / "apt.txt").read_text().splitlines()]
    assert "espeak-ng" in apt  # the offline voice-over


def test_quickstart_opens_without_a_kernel_dialog() -> None:
    for nb_path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = json.loads(nb_path.read_text())
        assert nb["metadata"]["kernelspec"]["name"] == "python3", nb_path.name
        media = [o for c in nb["cells"] for o in c.get("outputs", [])
                 if any(k.startswith(("image/", "video/")) for k in o.get("data", {}))]
        assert not media, f"{nb_path.name} keeps image/video outputs in git"
        assert "widgets" not in nb["metadata"], f"{nb_path.name} keeps saved widget state"


def test_readme_badge_opens_the_quickstart() -> None:
    readme = (ROOT / "README.md").read_text()
    m = re.search(r"https://mybinder\.org/v2/gh/[^)\s]+", readme)
    assert m, "README has no mybinder.org badge link"
    assert m[0].endswith("?urlpath=lab/tree/notebooks/01-quickstart.ipynb"), m[0]
    assert QUICKSTART.exists()


# --------------------------------------------------------------------------- the build

RUN_NOTEBOOK = r"""
import sys, nbformat
from nbclient import NotebookClient
path, cwd = sys.argv[1], sys.argv[2]
nb = nbformat.read(path, as_version=4)
NotebookClient(nb, timeout=900, kernel_name="python3",
               resources={"metadata": {"path": cwd}}).execute()
errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
print("cells", len(nb.cells), "errors", len(errors))
nbformat.write(nb, path)
"""


@pytest.fixture(scope="module")
def binder_env() -> Iterator[Path]:
    """A fresh virtualenv with binder/requirements.txt installed as repo2docker would.

    In its own temporary folder rather than pytest's tmp_path: pytest keeps only the last
    few basetemp folders per user, and other pytest sessions on the machine may prune them."""
    with tempfile.TemporaryDirectory(prefix="nbvideo-binder-") as tmp:
        env_dir = Path(tmp) / "venv"
        venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
        py = env_dir / "bin" / "python"
        # --no-compile: bytecode is written on first import anyway; it only slows the build.
        proc = subprocess.run([str(py), "-m", "pip", "install", "--disable-pip-version-check",
                               "-q", "--no-compile", "-r", str(BINDER / "requirements.txt")],
                              cwd=ROOT, capture_output=True, text=True, timeout=3000)
        assert proc.returncode == 0, f"pip install -r binder/requirements.txt failed:\n" \
                                     f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        yield env_dir


@pytest.fixture
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="nbvideo-binder-nb-") as tmp:
        yield Path(tmp)


@pytest.mark.slow
@pytest.mark.timeout(3600)  # a whole virtualenv install, then the quickstart, on a busy machine
def test_binder_environment_runs_the_quickstart(binder_env: Path, workdir: Path) -> None:
    py = binder_env / "bin" / "python"
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENAI_API_KEY", "REPLICATE_API_TOKEN", "VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = f"{binder_env / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["JUPYTER_PLATFORM_DIRS"] = "1"

    # nbvideo comes from the venv (a real install of this checkout), not from the tests' tree.
    where = subprocess.run([str(py), "-c", "import nbvideo, sys; print(nbvideo.__file__)"],
                           cwd=workdir, env=env, capture_output=True, text=True, check=True)
    assert str(binder_env) in where.stdout, where.stdout

    # JupyterLab is there with the widget manager the views need.
    labext = subprocess.run([str(binder_env / "bin" / "jupyter"), "labextension", "list"],
                            cwd=workdir, env=env, capture_output=True, text=True, timeout=300)
    listing = labext.stdout + labext.stderr
    assert labext.returncode == 0, listing
    for ext in ("@jupyter-widgets/jupyterlab-manager", "anywidget"):
        assert ext in listing, f"JupyterLab in the Binder lacks {ext}:\n{listing}"

    nb_path = workdir / QUICKSTART.name
    nb_path.write_bytes(QUICKSTART.read_bytes())
    proc = subprocess.run([str(py), "-c", RUN_NOTEBOOK, str(nb_path), str(workdir)],
                          cwd=workdir, env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, f"the quickstart failed in the Binder environment:\n" \
                                 f"{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    assert "errors 0" in proc.stdout

    # What a visitor would see: both exports, at their sizes, as long as the 30 s timeline
    # less its crossfades and trim; and a ledger of offline calls at $0.
    project = workdir / "projects" / "trail-shoe"
    exports = sorted((project / "exports").glob("quickstart-*.mp4"))
    assert [e.name for e in exports] == ["quickstart-16x9-720p.mp4", "quickstart-9x16-720p.mp4"]
    infos = [probe(e) for e in exports]
    assert {(i.width, i.height) for i in infos} == {(1280, 720), (720, 1280)}
    assert all(25.0 < i.duration_s <= 30.0 for i in infos), [i.duration_s for i in infos]
    assert abs(infos[0].duration_s - infos[1].duration_s) < 0.05
    ledger = [json.loads(ln) for ln in (project / "ledger.jsonl").read_text().splitlines()]
    assert ledger and all(row["cost_usd"] == 0 for row in ledger)
    assert {row["provider"] for row in ledger} == {"local"}
