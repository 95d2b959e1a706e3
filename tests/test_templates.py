"""Brief templates: data files that pick the structure, questions, defaults and example copy."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import nbvideo as nv
from nbvideo.model.templates import get_template, load_file

ROOT = Path(__file__).resolve().parents[1]
EXPECTED = {"product-launch", "app-install", "local-business", "seasonal-sale", "testimonial",
            "explainer"}


def test_templates_table_lists_the_six_ad_kinds() -> None:
    df = nv.templates()
    assert EXPECTED <= set(df["template"])
    row = df.set_index("template").loc["app-install"]
    assert row["aspect"] == "9:16" and row["beats"].startswith("hook")
    assert "store" in row["questions"] and Path(row["file"]).exists()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_template_plans_its_own_structure_and_questions(name: str, tmp_path: Path) -> None:
    tmpl = get_template(name)
    p = nv.Project.open(tmp_path / name, template=name, fps=12)
    assert p.brief.template == name and p.brief.text == tmpl.example_brief
    assert p.brief.aspect == tmpl.aspect and p.brief.duration_s == tmpl.duration_s
    assert p.questions.ids == [q.id for q in tmpl.questions]
    from nbvideo.plan.storyboard import plan
    from nbvideo.runtime.jobs import run_sync

    scenes = run_sync(plan(p._rt))
    assert p.state.structure == name
    assert scenes[0].beat == "hook" and scenes[-1].beat == "call-to-action"
    assert all(len(s.on_screen_text) <= 40 for s in scenes)
    p.close()


def test_template_answers_fill_its_example_copy(tmp_path: Path) -> None:
    p = nv.Project.open(tmp_path / "sale", template="seasonal-sale", duration_s=15, fps=12,
                        brief="15s ad for waterproof trail shoes")
    p.answer(season="Black Friday", deal="40% off everything")
    from nbvideo.plan.storyboard import plan
    from nbvideo.runtime.jobs import run_sync

    scenes = run_sync(plan(p._rt))
    copy = [s.on_screen_text for s in scenes]
    assert any("Black Friday" in c for c in copy) and "40% off everything" in copy
    p.close()


def test_given_options_win_over_the_template_defaults(tmp_path: Path) -> None:
    p = nv.Project.open(tmp_path / "app", template="app-install", brief="30s ad for a sleep app",
                        aspect="16:9", duration_s=30)
    assert (p.brief.aspect, p.brief.duration_s, p.brief.template) == ("16:9", 30, "app-install")
    p.close()
    again = nv.Project.open(tmp_path / "app", template="app-install")  # same template: reopens
    assert again.brief.duration_s == 30
    again.close()
    with pytest.raises(nv.InvalidInput, match="template"):
        nv.Project.open(tmp_path / "app", template="explainer")


def test_unknown_template_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(nv.TemplateError, match="app-install"):
        nv.Project.open(tmp_path / "x", template="no-such-ad", brief="ad for a shoe")
    assert not (tmp_path / "x").exists()


def _write(folder: Path, name: str, data: object) -> Path:
    path = folder / f"{name}.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_a_malformed_template_names_the_file_and_field(tmp_path: Path) -> None:
    good = json.loads((Path(nv.templates().set_index("template").loc["explainer", "file"]))
                      .read_text())
    bad_beat = {**good, "id": "bad-beat"}
    bad_beat["beats"] = [*good["beats"][:2], {"beat": "montage", "weight": 1, "priority": 2},
                         *good["beats"][2:]]
    with pytest.raises(nv.TemplateError, match=r"bad-beat\.json: beats\.2\.beat: "):
        load_file(_write(tmp_path, "bad-beat", bad_beat))
    typo = {**good, "id": "typo", "questons": []}
    with pytest.raises(nv.TemplateError, match=r"typo\.json: questons: Extra inputs"):
        load_file(_write(tmp_path, "typo", typo))
    with pytest.raises(nv.TemplateError, match=r"broken\.json: not valid JSON \(line 1"):
        load_file(_write(tmp_path, "broken", '{"id": "broken", '))
    with pytest.raises(nv.TemplateError, match=r"deep\.json: nested too deeply"):
        load_file(_write(tmp_path, "deep", "[" * 100_000 + "]" * 100_000))
    with pytest.raises(nv.TemplateError, match=r"other\.json: id: 'explainer' must match"):
        load_file(_write(tmp_path, "other", good))
    no_cta = {**good, "id": "no-cta", "beats": good["beats"][:-1]}
    with pytest.raises(nv.TemplateError, match=r"no-cta\.json: .*call-to-action"):
        load_file(_write(tmp_path, "no-cta", no_cta))


def test_a_team_folder_adds_and_overrides_templates(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    good = json.loads(Path(nv.templates().set_index("template").loc["explainer", "file"])
                      .read_text())
    _write(tmp_path, "explainer", {**good, "name": "Our explainer"})
    _write(tmp_path, "webinar", {**good, "id": "webinar", "name": "Webinar invite"})
    monkeypatch.setenv("NBVIDEO_TEMPLATES", str(tmp_path))
    df = nv.templates().set_index("template")
    assert df.loc["explainer", "name"] == "Our explainer" and "webinar" in df.index
    _write(tmp_path, "zzz", {**good, "id": "zzz", "duration_s": 500})
    from nbvideo.model.templates import _load_all

    _load_all.cache_clear()
    with pytest.raises(nv.TemplateError, match=r"zzz\.json: duration_s: "):
        nv.templates()
    _load_all.cache_clear()


def test_the_template_pack_is_data_at_the_repository_root() -> None:
    """Briefs and brand kits live in templates/ beside src/ (an editable install, or src on the
    path, reads them there): a director edits them without opening the Python package."""
    files = [Path(f) for f in nv.templates()["file"]]
    assert files and all(f.parent == ROOT / "templates" / "briefs" for f in files)
    from nbvideo.store.brands import brands_dir

    assert brands_dir() == ROOT / "templates" / "brands"
    assert set(nv.list_brands()) == {p.stem for p in (ROOT / "templates" / "brands").glob("*.json")}
    assert not (ROOT / "src" / "nbvideo" / "templates").exists()


WHEEL_CHECK = """
import json, nbvideo as nv
print(json.dumps({"file": nv.__file__, "templates": sorted(nv.templates()["template"]),
                  "brands": nv.list_brands(), "logo": str(nv.load_brand("trailhead").logo_path()),
                  "brief": nv.templates().set_index("template").loc["explainer", "file"]}))
"""


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_built_wheel_ships_the_template_pack(tmp_path: Path) -> None:
    """Build the wheel from a clean copy of the tree, install it (no editable link, no source
    tree beside it): the same templates and brand kits list, read from inside the package."""
    tree = tmp_path / "tree"
    tree.mkdir()
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md"):
        shutil.copy2(ROOT / name, tree / name)
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for name in ("src", "templates", "jupyter-config"):  # all the build reads (setup.py)
        shutil.copytree(ROOT / name, tree / name, ignore=skip)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-index", "--no-build-isolation", "-w",
                    str(tmp_path / "dist"), str(tree)], check=True, capture_output=True,
                   timeout=240)
    wheel = next((tmp_path / "dist").glob("nbvideo-*.whl"))
    site = tmp_path / "site"
    subprocess.run([*pip, "install", "--no-deps", "--no-index", "--target", str(site),
                    str(wheel)], check=True, capture_output=True, timeout=240)
    shutil.rmtree(tree)  # nothing to fall back on: the pack must come from the wheel
    run = subprocess.run([sys.executable, "-c", WHEEL_CHECK], capture_output=True, text=True,
                         cwd=tmp_path, env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
                         timeout=120)
    assert run.returncode == 0, run.stderr
    got = json.loads(run.stdout)
    installed = site / "nbvideo"
    assert Path(got["file"]).parent == installed
    assert got["templates"] == sorted(nv.templates()["template"])
    assert got["brands"] == nv.list_brands()
    assert Path(got["logo"]).parent == installed / "templates" / "brands"
    assert Path(got["brief"]).parent == installed / "templates" / "briefs"
