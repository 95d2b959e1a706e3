"""Hostile input at the outside boundary (issue 16): every call ends in a result or an
NbvideoError, and a refused call leaves project.json, history.jsonl and the takes as they were.

Property tests (hypothesis, a bounded number of examples) feed hostile text (control
characters, NUL, bidi overrides, RTL, emoji, huge strings, ffmpeg filter syntax), hostile
numbers (NaN, infinity, negative, huge) and hostile paths (absolute, '..', symlinks out,
files that are not images) into the public API and the CLI. One small project is made per
test function and reused by every example; nothing renders inside the loops.
Regression tests for findings 6 (control characters, a 1 MB brief) and 8 (numbers) follow.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import nbvideo as nv
from nbvideo.cli import main as cli
from nbvideo.errors import NbvideoError

SMALL = dict(aspect="16:9", duration_s=8.0, resolution="720p", fps=12)
BRIEF = "8s ad for a waterproof trail shoe for weekend hikers"
# Bounded for `make test`; NBVIDEO_HOSTILE_EXAMPLES=500 digs deeper (random, not repeatable).
EXAMPLES = int(os.environ.get("NBVIDEO_HOSTILE_EXAMPLES", "40"))
BOUNDED = settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 40,
                   suppress_health_check=[HealthCheck.too_slow,
                                          HealthCheck.function_scoped_fixture,
                                          HealthCheck.data_too_large])

# ---------------------------------------------------------------- strategies
_NASTY = [
    "\x00", "a\x00b", "brief with a NUL\x00 inside", "\x1b[31mred\x1b[0m", "\x07bell", "\x7f",
    "\x85next line", "\u202egnp.exe", "abc\u2066isolate\u2069", "\ud800 lone surrogate",
    "مرحبا بالعالم", "שלום עולם", "👟🌧️🏔️ emoji", "\u200f\u200e marks",
    "drawtext=text='%{pts}':x=0", "[0:v]null[out];[out]", "a\\:b\\,c", "%{localtime}",
    "'; rm -rf / #", "line one\nline two\ttab", "\r\n", "   ", "", "x",
]
hostile_text = st.one_of(
    st.sampled_from(_NASTY),
    st.text(st.characters(exclude_categories=()), max_size=40),  # surrogates and controls too
    st.integers(4_001, 1_100_000).map(lambda n: "y" * n),  # huge: up to ~1 MB
)
hostile_number: st.SearchStrategy[Any] = st.one_of(
    st.sampled_from([math.nan, math.inf, -math.inf, -1, -0.0, 0, 1e308, 10**400, -(10**30),
                     True, "3", None]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**20), 10**20),
)


# ---------------------------------------------------------------- the invariant
def _files(root: Path) -> dict[str, Any]:
    """What must not change when a call is refused: the state and history bytes, the takes."""
    out: dict[str, Any] = {}
    for name in ("project.json", "history.jsonl"):
        f = root / name
        out[name] = hashlib.sha256(f.read_bytes()).hexdigest() if f.exists() else None
    out["takes"] = sorted((p.relative_to(root).as_posix(), p.stat().st_size, p.stat().st_mtime_ns)
                          for p in (root / "assets").rglob("*") if p.is_file())
    return out


def holds(p: nv.Project, call: Callable[[], Any], given: Any = None) -> None:
    """`call` returns, or raises an NbvideoError that changed nothing and quotes little."""
    before, state = _files(p.path), p.state.model_dump_json()
    try:
        call()
    except NbvideoError as exc:
        assert _files(p.path) == before, "a refused call changed the files on disk"
        assert p.state.model_dump_json() == state, "a refused call changed the state in memory"
        if isinstance(given, str) and len(given) > 1000:
            assert len(str(exc)) < 1000, "the error echoes a huge input back"


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> Iterator[nv.Project]:
    """One project with questions and a storyboard (frames drawn, no clips), reused."""
    p = nv.Project.open(tmp_path_factory.mktemp("hostile") / "shoe", brief=BRIEF, **SMALL)
    p.storyboard()
    yield p
    p.close()


TEXT_CALLS: dict[str, Callable[[nv.Project, Any], Any]] = {
    "update(text=)": lambda p, v: p.update(text=v),
    "answer()": lambda p, v: p.answer(audience=v),
    "edit_scene(title=)": lambda p, v: p.edit_scene(1, title=v),
    "edit_scene(visual_prompt=)": lambda p, v: p.edit_scene(1, visual_prompt=v),
    "edit_scene(on_screen_text=)": lambda p, v: p.edit_scene(2, on_screen_text=v),
    "edit_scene(voice_line=)": lambda p, v: p.edit_scene(2, voice_line=v),
    "edit_scene(shot=)": lambda p, v: p.edit_scene(1, shot=v),
    "add_scene()": lambda p, v: p.add_scene(description=v, beat="proof"),
    "add_scene(beat=)": lambda p, v: p.add_scene(description="a new scene", beat=v),
    "comment()": lambda p, v: p.comment(1, v),
    "request_changes()": lambda p, v: p.request_changes(2, v),
    "set_metadata(title=)": lambda p, v: p.set_metadata(title=v),
    "set_metadata(hashtags=)": lambda p, v: p.set_metadata(hashtags=[v]),
    "set_metadata(link=)": lambda p, v: p.set_metadata(link=v),
    "finish(voice=)": lambda p, v: p.finish(voice=v),
    "finish(brand=)": lambda p, v: p.finish(brand=v),
    "finish(music=)": lambda p, v: p.finish(music=v),
    "set_look(product=)": lambda p, v: p.set_look(product=v),
    "set_look(style_words=)": lambda p, v: p.set_look(style_words=[v]),
    "set_look(palette=)": lambda p, v: p.set_look(palette=[v]),
    "scene(ref)": lambda p, v: p.scene(v),
    "trim(ref)": lambda p, v: p.trim(v, in_s=0.5),
    "export(name=)": lambda p, v: p.export(v),
    "set_transition(kind=)": lambda p, v: p.set_transition(1, v, 0.5),
    "snapshot()": lambda p, v: p.snapshot(v),
    "snapshot(note=)": lambda p, v: p.snapshot("ok-name", note=v),
    "user": lambda p, v: setattr(p, "user", v),
    "use_models()": lambda p, v: p.use_models(video=v),
    "estimate(model=)": lambda p, v: p.estimate(model=v),
    "restore()": lambda p, v: p.restore(v),
    "set_qa_policy()": lambda p, v: p.set_qa_policy(v),
    "set_music_file(filename)": lambda p, v: p.set_music_file(b"not audio", v),
    "delete_scene()": lambda p, v: p.delete_scene(v),
    "restore_scene()": lambda p, v: p.restore_scene(v),
    "choose_take()": lambda p, v: p.choose_take(1, v),
    "diff()": lambda p, v: p.diff(v),
    "generate_clips(model=)": lambda p, v: p.generate_clips(model=v, scenes=[1]),
    "generate_clips(policy=)": lambda p, v: p.generate_clips(model="auto", policy=v),
    "package(presets)": lambda p, v: p.package([v]),
    "export(preset=)": lambda p, v: p.export("ad", preset=v),
    "export(formats=)": lambda p, v: p.export("ad", formats=[v]),
}

NUMBER_CALLS: dict[str, Callable[[nv.Project, Any], Any]] = {
    "budget_usd": lambda p, v: setattr(p, "budget_usd", v),
    "trim(in_s=)": lambda p, v: p.trim(1, in_s=v),
    "trim(out_s=)": lambda p, v: p.trim(1, out_s=v),
    "set_transition(duration_s=)": lambda p, v: p.set_transition(1, "crossfade", v),
    "set_transitions()": lambda p, v: p.set_transitions("crossfade", v),
    "edit_scene(duration_s=)": lambda p, v: p.edit_scene(1, duration_s=v),
    "update(duration_s=)": lambda p, v: p.update(duration_s=v),
    "update(fps=)": lambda p, v: p.update(fps=v),
    "set_look(seed=)": lambda p, v: p.set_look(seed=v),
    "set_qa_policy(retries=)": lambda p, v: p.set_qa_policy("retry", v),
    "move_scene(to=)": lambda p, v: p.move_scene(1, v),
    "scene(number)": lambda p, v: p.scene(v),
    "generate_clips(budget_usd=)": lambda p, v: p.generate_clips(budget_usd=v, scenes=[99]),
    "generate_clips(timeout_s=)": lambda p, v: p.generate_clips(timeout_s=v, scenes=[99]),
    "answer()": lambda p, v: p.answer(tone=v),
}


@BOUNDED
@given(call=st.sampled_from(sorted(TEXT_CALLS)), text=hostile_text)
@example(call="update(text=)", text="brief\x00" + "z" * 1_000_000)
@example(call="edit_scene(on_screen_text=)", text="SALE\x00")
@example(call="comment()", text="looks good \u202e")
def test_hostile_text_ends_in_a_result_or_an_nbvideo_error(board: nv.Project, call: str,
                                                          text: str) -> None:
    holds(board, lambda: TEXT_CALLS[call](board, text), text)


@BOUNDED
@given(call=st.sampled_from(sorted(NUMBER_CALLS)), number=hostile_number)
@example(call="budget_usd", number=math.nan)
@example(call="trim(in_s=)", number=math.inf)
@example(call="set_transition(duration_s=)", number=math.nan)
def test_hostile_numbers_end_in_a_result_or_an_nbvideo_error(board: nv.Project, call: str,
                                                             number: Any) -> None:
    holds(board, lambda: NUMBER_CALLS[call](board, number), number)
    assert board.budget_usd is None or math.isfinite(board.budget_usd)


@BOUNDED
@given(brief=hostile_text, budget=hostile_number, name=hostile_text)
@example(brief=BRIEF, budget=None, name="\ud800 lone surrogate")  # no folder can hold it
def test_hostile_project_open_creates_a_project_or_refuses(tmp_path_factory: pytest.TempPathFactory,
                                                          brief: str, budget: Any,
                                                          name: str) -> None:
    root = tmp_path_factory.mktemp("open")
    folder = name[:200].replace("/", "_").replace("\\", "_").strip(".") or "x"
    try:  # a hostile parent folder; only the last part is slugged
        nv.Project.open(root / folder / "p", brief=brief, budget_usd=budget,
                        **SMALL).close()
    except NbvideoError as exc:
        assert len(str(exc)) < 1000
        assert not list(root.rglob("project.json")), "a refused open left a project behind"


# ---------------------------------------------------------------- paths
@pytest.fixture(scope="module")
def outside(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Files outside the project: a PNG, a text file, a kit-shaped JSON, and a binary file."""
    from PIL import Image

    d = tmp_path_factory.mktemp("outside")
    Image.new("RGB", (8, 8), "red").save(d / "logo.png")
    (d / "notes.txt").write_text("not an image", encoding="utf-8")
    (d / "kit.json").write_text(json.dumps({"name": "Outside", "palette": ["#000000"]}),
                                encoding="utf-8")
    (d / "blob.json").write_bytes(b"\xff\xfe\x00garbage")
    return d


def _paths(board: nv.Project, outside: Path) -> list[str]:
    """Hostile paths as a user would type them, plus symlinks inside the project that point out."""
    inside = board.path / "assets"
    links = []
    for name in ("logo.png", "notes.txt", "kit.json"):
        link = inside / f"link-{name}"
        if not link.is_symlink():
            link.symlink_to(outside / name)
        links.append(f"assets/link-{name}")
    (board.path / "assets" / "notes.png").write_text("not an image", encoding="utf-8")
    return [str(outside / "logo.png"), str(outside / "notes.txt"), str(outside / "kit.json"),
            str(outside / "blob.json"), "../../etc/passwd", "/etc/passwd", "..", ".", "",
            "assets/notes.png", "assets", "assets/../../x.png", "C:\\x.png", "a\x00b.png",
            "~/x.png", *links]


PATH_CALLS: dict[str, Callable[[nv.Project, str], Any]] = {
    "set_look(logo=)": lambda p, v: p.set_look(logo=v),
    "set_look(reference_image=)": lambda p, v: p.set_look(reference_image=v),
    "finish(brand=)": lambda p, v: p.finish(brand=v),
    "finish(music=)": lambda p, v: p.finish(music=v),
    "restore_last_good()": lambda p, v: nv.Project.restore_last_good(p.path.parent / v),
}


@BOUNDED
@given(data=st.data(), call=st.sampled_from(sorted(PATH_CALLS)))
def test_hostile_paths_end_in_a_result_or_an_nbvideo_error(board: nv.Project, outside: Path,
                                                          data: st.DataObject,
                                                          call: str) -> None:
    path = data.draw(st.sampled_from(_paths(board, outside)))
    holds(board, lambda: PATH_CALLS[call](board, path), path)


# Confining look paths is the `outside` change (nbvideo.store.confine, already on main): these run
# once both are merged.
needs_confinement = pytest.mark.skipif(importlib.util.find_spec("nbvideo.store.confine") is None,
                                       reason="outside branch: path confinement not merged")


@needs_confinement
@pytest.mark.parametrize("field", ["logo", "reference_image"])
def test_a_look_file_outside_the_project_is_refused(fresh: nv.Project, outside: Path,
                                                    field: str) -> None:
    with pytest.raises(NbvideoError):
        fresh.set_look(**{field: str(outside / "logo.png")})


@needs_confinement
def test_a_look_file_symlinked_out_of_the_project_is_refused(fresh: nv.Project,
                                                             outside: Path) -> None:
    (fresh.path / "assets" / "logo.png").symlink_to(outside / "logo.png")
    with pytest.raises(NbvideoError):
        fresh.set_look(logo="assets/logo.png")


# ---------------------------------------------------------------- the CLI
@pytest.fixture(scope="module")
def closed_board(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project with a storyboard, closed so the CLI can take its lock."""
    p = nv.Project.open(tmp_path_factory.mktemp("cli") / "shoe", brief=BRIEF, **SMALL)
    p.storyboard()
    p.close()
    return p.path


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                 HealthCheck.data_too_large])
@given(text=hostile_text.filter(lambda s: "\x00" not in s and len(s) < 200_000),
       number=st.sampled_from(["nan", "inf", "-inf", "-1", "1e400", "0", "2.5"]),
       verb=st.sampled_from(["new", "new-budget", "comment", "snapshot", "approve"]))
def test_hostile_cli_arguments_end_in_one_line_and_an_exit_code(
        closed_board: Path, tmp_path_factory: pytest.TempPathFactory, text: str, number: str,
        verb: str) -> None:
    # argv cannot hold NUL (the OS refuses it before nbvideo runs), so the CLI gets the rest.
    where = tmp_path_factory.mktemp("cli-new")
    before = _files(closed_board)
    args = {
        "new": ["new", str(where / "p"), "--brief", text, "--duration", number],
        "new-budget": ["new", str(where / "p"), "--brief", BRIEF, "--budget", number],
        "comment": ["comment", str(closed_board), "1", text],
        "snapshot": ["snapshot", str(closed_board), text, "--note", text],
        "approve": ["approve", str(closed_board), text],
    }[verb]
    res = CliRunner().invoke(cli, args)
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        raise res.exception
    assert res.exit_code in (0, 2, 3, 4, 5), res.output
    if res.exit_code != 0:
        assert "Traceback" not in res.output
        assert len(res.output) < 1000, "the error echoes a huge input back"
        if verb in ("comment", "snapshot", "approve"):
            assert _files(closed_board) == before


# ---------------------------------------------------------------- finding 6: text
def test_a_nul_in_on_screen_text_is_refused_naming_the_field(board: nv.Project) -> None:
    with pytest.raises(nv.InvalidInput, match=r"on_screen_text contains a control "
                                              r"character \(U\+0000"):
        board.edit_scene(1, on_screen_text="SALE\x00 today")


def test_a_megabyte_brief_is_refused_with_a_short_message(fresh: nv.Project) -> None:
    with pytest.raises(nv.InvalidInput, match="brief: ") as info:
        fresh.update(text="z" * 1_000_000)
    assert len(str(info.value)) < 300
    assert "1,000,000 characters" in str(info.value)


def test_a_bidi_override_is_refused_but_rtl_text_and_emoji_are_kept(fresh: nv.Project) -> None:
    with pytest.raises(nv.InvalidInput, match="bidirectional override"):
        fresh.update(text="trail shoe ad \u202egnp.exe")
    assert fresh.update(text="إعلان حذاء المشي 👟 שלום").text == "إعلان حذاء المشي 👟 שלום"


def test_a_control_character_in_project_json_opens_as_corrupt_naming_it(
        fresh: nv.Project) -> None:
    fresh.close()
    raw = json.loads((fresh.path / "project.json").read_text("utf-8"))
    raw["brief"]["text"] = "trail shoe\x1b[2J ad"
    for f in ("project.json", "project.json.bak"):
        (fresh.path / f).write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(nv.ProjectCorrupt, match=r"brief: text contains a control"):
        nv.Project.open(fresh.path)


def test_a_project_json_nested_thousands_deep_opens_as_corrupt_and_is_kept(
        fresh: nv.Project) -> None:
    fresh.close()
    deep = "[" * 100_000 + "]" * 100_000
    (fresh.path / "project.json").write_text(deep, encoding="utf-8")
    with pytest.raises(nv.ProjectCorrupt, match="nested too deeply"):
        nv.Project.open(fresh.path)
    assert (fresh.path / "project.json").read_text(encoding="utf-8") == deep


def test_planner_output_with_a_control_character_is_not_a_storyboard() -> None:
    from pydantic import ValidationError

    from nbvideo.providers.openai_plan import StoryboardOut

    scene = {"beat": "hook", "title": "Rain\x00", "description": "d", "visual_prompt": "v",
             "shot": "wide", "camera": "static", "duration_s": 3, "on_screen_text": "",
             "voice_line": ""}
    with pytest.raises(ValidationError, match="control character"):
        StoryboardOut.model_validate({"title": "t", "structure": "s", "scenes": [scene]})


# ---------------------------------------------------------------- finding 8: numbers
@pytest.mark.parametrize("value", [math.nan, math.inf, -1.0])
def test_a_budget_that_is_not_a_finite_dollar_amount_is_refused(fresh: nv.Project,
                                                                value: float) -> None:
    with pytest.raises(nv.InvalidInput, match="budget_usd must be a finite number of dollars"):
        fresh.budget_usd = value
    assert fresh.budget_usd is None


def test_an_infinite_budget_is_refused_when_opening(tmp_path: Path) -> None:
    with pytest.raises(nv.InvalidInput, match="budget_usd"):
        nv.Project.open(tmp_path / "p", brief=BRIEF, budget_usd=math.inf)
    assert not (tmp_path / "p").exists()


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_trim_with_nan_or_infinity_names_the_field_and_range(board: nv.Project,
                                                             value: float) -> None:
    with pytest.raises(nv.InvalidInput, match=r"in_s must be seconds \(a finite number from 0"):
        board.trim(1, in_s=value)
    with pytest.raises(nv.InvalidInput, match=r"out_s must be seconds \(a finite number from 0"):
        board.trim(1, out_s=value)


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_a_crossfade_of_nan_or_infinity_names_the_field_and_range(board: nv.Project,
                                                                  value: float) -> None:
    with pytest.raises(nv.InvalidInput, match=r"duration_s of a crossfade must be from one "
                                              r"frame to 3 s"):
        board.set_transition(1, "crossfade", value)


def test_nan_in_project_json_opens_as_corrupt_naming_the_field(fresh: nv.Project) -> None:
    fresh.close()
    text = (fresh.path / "project.json").read_text("utf-8")
    raw = json.loads(text)
    raw["brief"]["duration_s"] = math.nan  # json.dumps writes the bare NaN token
    for f in ("project.json", "project.json.bak"):
        (fresh.path / f).write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(nv.ProjectCorrupt, match=r"brief\.duration_s: Input should be a finite"):
        nv.Project.open(fresh.path)


def test_reopening_with_a_nan_budget_is_refused_and_leaves_the_project_closed(
        fresh: nv.Project) -> None:
    fresh.close()
    with pytest.raises(nv.InvalidInput, match="budget_usd"):
        nv.Project.open(fresh.path, budget_usd=math.nan)
    with nv.Project.open(fresh.path) as again:  # not left locked by the refused open
        assert again.budget_usd is None


def test_the_same_transition_at_every_cut_is_all_or_nothing(fresh: nv.Project) -> None:
    fresh.storyboard()
    last = len(fresh.scenes)
    for n in range(1, last):
        fresh.edit_scene(n, duration_s=5)
    fresh.edit_scene(last - 1, duration_s=1)  # too short for a 2 s crossfade on either side
    before = _files(fresh.path)
    with pytest.raises(nv.InvalidInput, match="crossfade of 2 s must be shorter"):
        fresh.set_transitions("crossfade", 2.0)
    assert _files(fresh.path) == before
    assert set(fresh.timeline.to_pandas()["transition"][:-1]) == {"cut"}


def test_a_crossfade_length_given_as_text_is_an_input_error(board: nv.Project) -> None:
    with pytest.raises(nv.InvalidInput, match="duration_s of a crossfade"):
        board.set_transitions("crossfade", "1")  # type: ignore[arg-type]


def test_a_snapshot_name_ending_in_a_newline_is_refused(board: nv.Project) -> None:
    with pytest.raises(nv.InvalidInput, match="snapshot name: "):
        board.snapshot("sent-to-client\n")


@pytest.mark.parametrize("budget", ["nan", "inf", "-1"])
def test_the_cli_refuses_a_budget_that_is_not_finite_dollars(tmp_path: Path, budget: str) -> None:
    res = CliRunner().invoke(cli, ["new", str(tmp_path / "p"), "--brief", BRIEF,
                                   "--budget", budget])
    assert res.exit_code == 2, res.output
    assert "budget_usd must be a finite number of dollars" in res.output
    assert not (tmp_path / "p").exists()
