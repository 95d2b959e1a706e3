"""Client sign-off: review status per scene, comments, and the rules on edit and export."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest
from PIL import Image

import nbvideo as nv
from nbvideo.media.ffmpeg import probe
from nbvideo.model.approvals import STATUS_COLOURS as HEX
from nbvideo.model.approvals import NotApproved
from nbvideo.model.color import hex_rgb
from nbvideo.model.state import SCHEMA_VERSION

STATUS_COLOURS = {k: hex_rgb(v) for k, v in HEX.items()}


def test_a_review_round_records_status_author_and_time(rendered: nv.Project) -> None:
    p = rendered
    assert set(p.review["status"]) == {"draft"}
    p.user = "Ana (agency)"
    p.submit_for_review(1)
    p.user = "Cleo (client)"
    before = dt.datetime.now(dt.UTC)
    p.approve(1, "Love the opener")
    p.request_changes(2, "Make the shoe bigger")
    p.comment(3, "Is this the final music?")
    review = p.review.set_index("scene")
    assert review.loc[1, "status"] == "approved"
    assert review.loc[2, "status"] == "changes_requested"
    assert review.loc[3, "status"] == "draft"  # a comment alone changes no status
    assert review.loc[2, "last_comment"] == "Cleo (client): Make the shoe bigger"
    c = p.comments
    assert list(c["kind"]) == ["submitted", "approved", "changes_requested", "comment"]
    assert list(c["author"]) == ["Ana (agency)"] + ["Cleo (client)"] * 3
    assert (c["time"].iloc[1:] >= before).all()
    assert p.scene(1).review_status == "approved"  # also on the scene handle


def test_comment_and_change_request_need_text_and_a_real_scene(rendered: nv.Project) -> None:
    p = rendered
    n = len(p.history)
    with pytest.raises(nv.InvalidInput, match="text"):
        p.request_changes(1, "   ")
    with pytest.raises(nv.InvalidInput, match="text"):
        p.comment(1, "")
    with pytest.raises(nv.InvalidInput, match="text"):
        p.comment(1, "x" * 2001)
    with pytest.raises(nv.InvalidInput, match="out of range"):
        p.approve(9)
    assert p.scene(1).review_status == "draft" and not p.scene(1).comments
    assert len(p.history) == n  # a refused call records nothing


def test_editing_an_approved_scene_sends_it_back_to_draft_and_says_why(
        rendered: nv.Project) -> None:
    p = rendered
    p.approve(1)
    p.approve(2)
    p.user = "Bo (editor)"
    p.edit_scene(1, visual_prompt="low angle, rain on the lens")
    assert p.scene(1).review_status == "draft"
    assert p.scene(2).review_status == "approved"  # untouched scenes keep their approval
    note = p.scene(1).comments[-1]
    assert note.kind == "system" and note.author == "Bo (editor)"
    assert "visual_prompt" in note.text and "draft" in note.text
    ev = p.history.iloc[-1]
    assert ev["kind"] == "edit" and "back to draft" in ev["note"]
    assert ["scenes", p.scene(1).id, "review_status"] in [c["path"] for c in ev["changes"]]
    # Trimming its clip on the timeline is an edit of what the client approved, too.
    p.trim(2, in_s=0.25)
    assert p.scene(2).review_status == "draft"
    assert "trim_in_s" in p.scene(2).comments[-1].text


def test_undo_of_the_edit_gives_the_approval_back_and_keeps_the_note(
        rendered: nv.Project) -> None:
    p = rendered
    p.approve(1, "ok")
    p.edit_scene(1, title="Changed after sign-off")
    assert p.scene(1).review_status == "draft"
    p.undo()
    assert p.scene(1).review_status == "approved"
    assert [c.kind for c in p.scene(1).comments] == ["approved", "system"]  # records stay
    p.undo()  # the approval itself
    assert p.scene(1).review_status == "draft"
    assert len(p.scene(1).comments) == 2


def test_export_with_require_approval_names_what_is_not_approved(rendered: nv.Project) -> None:
    p = rendered
    p.approve(1)
    p.request_changes(3, "Brighter, please")
    with pytest.raises(NotApproved) as err:
        p.export("ad", require_approval=True)
    msg = str(err.value)
    assert f"scene 2 ({p.scene(2).id}): draft" in msg
    assert f"scene 3 ({p.scene(3).id}): changes requested" in msg
    assert "scene 1 " not in msg
    assert isinstance(err.value, nv.PhaseNotReady)  # the CLI exits 5 for it
    assert not list((p.path / "exports").glob("*.mp4")) and not p.exports
    for n in (2, 3):
        p.approve(n)
    out = p.export("ad", require_approval=True)
    info = probe(out.paths[0])
    assert info.duration_s == pytest.approx(p.timeline.duration_s, abs=0.1)
    assert set(p.review["status"]) == {"approved"}  # exporting is no edit


def test_statuses_and_comments_survive_a_reopen(rendered: nv.Project) -> None:
    p = rendered
    p.approve(1)
    p.request_changes(2, "Shorter")
    path = p.path
    p.close()
    raw = json.loads((path / "project.json").read_text())
    assert raw["schema_version"] == SCHEMA_VERSION
    assert raw["scenes"][1]["review_status"] == "changes_requested"
    again = nv.Project.open(path)
    assert list(again.review["status"])[:2] == ["approved", "changes_requested"]
    assert again.comments["text"].tolist()[-1] == "Shorter"
    again.close()


def test_the_review_sheet_shows_each_status_and_the_comments(rendered: nv.Project) -> None:
    p = rendered
    plain = p.review_sheet()
    plain_img = np.asarray(Image.open(plain.png).convert("RGB")).astype(np.int16)
    p.approve(1)
    p.request_changes(2, "Make the shoe bigger")
    sheet = p.review_sheet()
    img = np.asarray(Image.open(sheet.png).convert("RGB")).astype(np.int16)

    def pixels(im: np.ndarray, colour: tuple[int, int, int]) -> int:
        return int((np.abs(im - np.array(colour)).sum(axis=2) < 6).sum())

    for status in ("approved", "changes_requested", "draft"):
        assert pixels(img, STATUS_COLOURS[status]) > 300, status
        assert pixels(plain_img, STATUS_COLOURS[status]) < 50, status
    # The approved label sits on the first frame (left third), the changes one on the second.
    ys, xs = np.nonzero(np.abs(img - np.array(STATUS_COLOURS["approved"])).sum(axis=2) < 6)
    assert xs.mean() < img.shape[1] / 3
    ys, xs = np.nonzero(np.abs(img - np.array(STATUS_COLOURS["changes_requested"])).sum(axis=2)
                        < 6)
    assert img.shape[1] / 3 < xs.mean() < 2 * img.shape[1] / 3


def test_the_cli_reviews_approves_and_walks_history(rendered: nv.Project) -> None:
    from tests.test_cli import cli

    path = rendered.path
    sid = rendered.scene(2).id
    rendered.close()
    res = cli("approve", str(path), "1", "3", "--note", "Good", "--user", "Cleo")
    assert res.returncode == 0, res.stderr
    res = cli("request-changes", str(path), sid, "More rain", "--user", "Cleo")
    assert res.returncode == 0, res.stderr
    res = cli("export", str(path), "--require-approval")
    assert res.returncode == 5 and f"scene 2 ({sid}): changes requested" in res.stderr
    assert "Traceback" not in res.stderr
    res = cli("review", str(path))
    assert res.returncode == 0 and "changes_requested" in res.stdout and "Cleo: More rain" in res.stdout
    res = cli("snapshot", str(path), "sent-to-client")
    assert res.returncode == 0, res.stderr
    res = cli("snapshot", str(path), "bad name")
    assert res.returncode == 2 and "snapshot name" in res.stderr
    res = cli("undo", str(path), "--steps", "2")
    assert res.returncode == 0 and res.stdout.count("undo #") == 2
    p = nv.Project.open(path, read_only=True)
    assert list(p.review["status"]) == ["approved", "draft", "draft"]
    res = cli("restore", str(path), "--to", "sent-to-client")
    assert res.returncode == 0 and "restore to snapshot 'sent-to-client'" in res.stdout
    res = cli("history", str(path), "--last", "4")
    assert res.returncode == 0, res.stderr
    assert [ln.split()[4] for ln in res.stdout.splitlines()[1:]] == ["snapshot", "undo", "undo",
                                                                    "restore"]
    p = nv.Project.open(path, read_only=True)
    assert list(p.review["status"]) == ["approved", "changes_requested", "approved"]
    res = cli("undo", str(tmp := path.parent / "nope"))
    assert res.returncode == 3 and not tmp.exists()


def test_the_static_storyboard_shows_status_and_last_comment(rendered: nv.Project) -> None:
    p = rendered
    assert "changes requested" not in p.scenes._repr_html_()
    p.request_changes(2, "Bigger <shoe>")
    html = p.scenes._repr_html_()
    assert "changes requested" in html and "Bigger &lt;shoe&gt;" in html
    assert html.count("#c42828") == 1  # only scene 2 carries a label


def test_a_duplicate_of_an_approved_scene_starts_as_a_draft(rendered: nv.Project) -> None:
    p = rendered
    p.approve(1, "ok")
    copy = p.duplicate_scene(1)
    assert copy.review_status == "draft" and copy.comments == []
    assert p.scene(1).review_status == "approved"
