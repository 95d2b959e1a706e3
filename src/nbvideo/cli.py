"""`nbvideo demo|new|run|export|costs|restore|history|undo|redo|snapshot|review|approve|
comment|request-changes|audit|templates|campaign` — the pipeline, its history, client
sign-off, template packs and campaigns from a terminal.

Exit codes: 0 done; 2 bad usage or input; 3 project missing, unreadable or from a newer
nbvideo (and other nbvideo errors); 4 project locked, or changed by another process since it
was opened; 5 a phase is not ready (run the one before it); 6 a budget would be exceeded;
7 a provider refused or failed (permanent); 8 a provider is briefly unavailable (try again
later); 9 a render failed; 70 internal error (a bug: rerun with --debug); 130 interrupted or
canceled. Errors print one line on stderr; --debug adds the traceback.
"""

from __future__ import annotations

import functools
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from nbvideo.errors import (
    BudgetExceeded,
    Canceled,
    InvalidInput,
    NbvideoError,
    PhaseNotReady,
    ProjectLocked,
    ProjectStale,
    RenderFailed,
    quote,
)
from nbvideo.model.brief_length import length_note
from nbvideo.model.vocabulary import (
    ASPECTS,
    DEFAULT_POLICY,
    EXPORT_RESOLUTIONS,
    POLICY_NAMES,
    RESOLUTIONS,
)

if TYPE_CHECKING:
    import pandas as pd

# Start-up matters here: `nbvideo --version` and `nbvideo ls` must not pay for what they do not
# use, so this module imports only click and nbvideo's floor at the top; each command imports
# the project, pandas or the overview itself, when it runs.

F = TypeVar("F", bound=Callable[..., Any])

DEMO_BRIEF = "30s ad for a waterproof trail shoe"
EXIT_INPUT, EXIT_PROJECT, EXIT_LOCKED, EXIT_NOT_READY = 2, 3, 4, 5
EXIT_BUDGET, EXIT_PROVIDER, EXIT_PROVIDER_TRANSIENT, EXIT_RENDER = 6, 7, 8, 9
EXIT_REFUSED, EXIT_AUDIT = 10, 11
EXIT_INTERNAL, EXIT_INTERRUPTED = 70, 130


def exit_code(exc: BaseException) -> int:
    """The documented exit code for an error (docs/cli.md lists them): the first rule that
    matches wins, so a subclass can have a code of its own."""
    from nbvideo.edit.versions import AssetsMissing
    from nbvideo.errors import AuditBroken, RoleRefused
    from nbvideo.providers.base import ProviderError
    from nbvideo.store.history import HistoryError

    rules: list[tuple[type[BaseException] | tuple[type[BaseException], ...], int]] = [
        (AssetsMissing, EXIT_PROJECT),
        (RoleRefused, EXIT_REFUSED),
        (AuditBroken, EXIT_AUDIT),
        ((InvalidInput, HistoryError), EXIT_INPUT),
        ((ProjectLocked, ProjectStale), EXIT_LOCKED),
        (PhaseNotReady, EXIT_NOT_READY),
        (BudgetExceeded, EXIT_BUDGET),
        (RenderFailed, EXIT_RENDER),
        ((Canceled, KeyboardInterrupt), EXIT_INTERRUPTED),
        (NbvideoError, EXIT_PROJECT),
    ]
    if isinstance(exc, ProviderError):
        return EXIT_PROVIDER_TRANSIENT if exc.transient else EXIT_PROVIDER
    return next((code for kinds, code in rules if isinstance(exc, kinds)), EXIT_INTERNAL)


def one_line(exc: BaseException) -> str:
    """An error's message on one line: ffmpeg's last lines (a RenderFailed) joined by ' | '."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    return lines[0] + "".join((" " if lines[0].endswith(":") and i == 0 else " | ") + line
                              for i, line in enumerate(lines[1:]))


def _debug() -> bool:
    ctx = click.get_current_context(silent=True)
    root = ctx.find_root() if ctx is not None else None
    return bool(root is not None and root.params.get("debug")) or \
        os.environ.get("NBVIDEO_DEBUG", "") not in ("", "0")


def _fail(exc: BaseException) -> None:
    code = exit_code(exc)
    if _debug():
        traceback.print_exception(exc, file=sys.stderr)
    if code == EXIT_INTERNAL:
        click.secho(f"internal error: {type(exc).__name__}: {one_line(exc)[:300]} (a bug in "
                    f"nbvideo; rerun with --debug for the traceback and report it)",
                    fg="red", err=True)
    elif isinstance(exc, KeyboardInterrupt):
        click.secho("interrupted", fg="yellow", err=True)
    elif isinstance(exc, Canceled):
        click.secho(f"canceled: {one_line(exc)}", fg="yellow", err=True)
    else:
        click.secho(f"error: {one_line(exc)}", fg="red", err=True)
    sys.exit(code)


def user_errors(fn: F) -> F:
    """Every error as one line on stderr and its documented exit code (see `exit_code`):
    nbvideo's own errors say what to do; anything else is a bug, reported as an internal
    error. `nbvideo --debug ...` (or NBVIDEO_DEBUG=1) adds the traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.Abort):
            raise  # click's own usage errors and exits keep their codes
        except (Exception, KeyboardInterrupt) as exc:
            _fail(exc)

    return wrapper  # type: ignore[return-value]


def _print_table(df: pd.DataFrame) -> None:
    import pandas as pd

    with pd.option_context("display.width", 160, "display.max_columns", 20,
                           "display.float_format", "{:.4f}".format):
        click.echo(df.to_string(index=False))


def _parse_answers(pairs: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"--answer expects id=value, got {quote(pair)}")
        out[key.strip()] = value
    return out


@click.group(help=__doc__)
@click.version_option(package_name="nbvideo")
@click.option("--debug", is_flag=True, help="Print the traceback of an error too.")
def main(debug: bool) -> None:
    pass


@main.command()
@click.argument("directory", default="demo-output", type=click.Path(file_okay=False, path_type=Path))
@click.option("--aspect", type=click.Choice(ASPECTS), default="16:9", show_default=True)
@click.option("--duration", "duration_s", type=float, default=None,
              help="Seconds; default: the length the brief states ('15s', ':15', 'one "
                   "minute'), else 30.")
@click.option("--resolution", type=click.Choice(RESOLUTIONS), default="720p", show_default=True)
@user_errors
def demo(directory: Path, aspect: str, duration_s: float | None, resolution: str) -> None:
    """Render the offline demo ad end to end (no API keys needed)."""
    from nbvideo.project import Project

    started = time.perf_counter()
    p = Project.open(directory / "trail-shoe", brief=DEMO_BRIEF, aspect=aspect,
                     duration_s=duration_s, resolution=resolution)
    click.echo(f"project: {p.path}")
    qs = p.ask()
    defaults = {q.id: q.default for q in qs if q.default}
    chosen = {k: v for k, v in {"audience": "weekend hikers", "tone": "gritty"}.items()
              if k in qs.ids} or {}
    p.answer(**{**defaults, **chosen})
    click.echo(f"questions: {len(qs)} asked, answered with defaults ({', '.join(qs.ids)})")
    from nbvideo.providers.local.voice import find_espeak

    voice = "narrator-f" if find_espeak() else None  # `make demo` installs espeak-ng
    p.finish(brand="trailhead", voice=voice, music="bed")
    p.set_look(product="grey trail shoe with orange laces")  # the kit's palette and logo
    click.echo(f"finishing: trailhead kit and look, music bed, "
               f"{'espeak-ng voice-over and captions' if voice else 'no voice (espeak-ng missing)'}")
    scenes = p.storyboard()
    click.echo(f"storyboard: {len(scenes)} scenes, {sum(s.duration_s for s in scenes):g}s")
    p.generate_clips().wait()
    p.set_transitions("crossfade", 0.5)
    others = [a for a in ("9:16",) if a != aspect]
    exports = p.export("demo", formats=[aspect], fit="crop")
    exports += p.export("demo", formats=others, fit="pad") if others else []
    click.echo("\nexports:")
    for rec in exports:
        click.echo(f"  {p.path / rec.path}  {rec.width}x{rec.height}  {rec.duration_s:.2f}s")
    click.echo(f"review sheet: {p.review_sheet().pdf}")
    click.echo("\ncosts:")
    _print_table(p.cost_summary())
    click.echo(f"\ndone in {time.perf_counter() - started:.1f}s")
    p.close()


@main.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--brief", required=True, help="The one-line ad brief.")
@click.option("--aspect", type=click.Choice(ASPECTS), default="16:9", show_default=True)
@click.option("--duration", "duration_s", type=float, default=None,
              help="Seconds; default: the length the brief states ('15s', ':15', 'one "
                   "minute'), else 30.")
@click.option("--resolution", type=click.Choice(RESOLUTIONS), default="720p", show_default=True)
@click.option("--fps", type=int, default=30, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--providers", default="local", show_default=True,
              help="local, openai, replicate, openai+replicate, or auto (whatever keys are set).")
@click.option("--video-model", default=None, help="A catalog video model, e.g. kling-v2.1.")
@click.option("--budget", "budget_usd", type=float, default=None, help="Project budget in USD.")
@user_errors
def new(path: Path, brief: str, aspect: str, duration_s: float | None, resolution: str, fps: int,
        seed: int, providers: str, video_model: str | None, budget_usd: float | None) -> None:
    """Create a project and print its clarifying questions."""
    from nbvideo.project import Project
    from nbvideo.store.folder import ProjectStore, slug_path

    if ProjectStore(slug_path(path)).exists():
        raise InvalidInput(f"a project already exists at {slug_path(path)}; use `nbvideo run` on it")
    p = Project.open(path, brief=brief, aspect=aspect, duration_s=duration_s,
                     resolution=resolution, fps=fps, seed=seed, providers=providers,
                     models={"video": video_model} if video_model else None,
                     budget_usd=budget_usd)
    click.echo(f"created {p.path}")
    note = length_note(brief, duration_s) if duration_s is not None else None
    if note:
        click.echo(f"note: {note}")
    for q in p.ask():
        choices = f" [{' | '.join(q.choices)}]" if q.choices else ""
        click.echo(f"  {q.id}: {q.prompt}{choices} (default: {q.default})")
    click.echo(f"answer with: nbvideo run {p.path} --answer ID=VALUE ...")
    p.close()


@main.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--answer", "answers", multiple=True, metavar="ID=VALUE",
              help="Answer a clarifying question (repeatable).")
@click.option("--model", default=None,
              help="Video model for the clips: a catalog name, or auto (see --policy).")
@click.option("--policy", type=click.Choice(POLICY_NAMES), default=DEFAULT_POLICY,
              show_default=True, help="How --model auto picks per scene.")
@click.option("--budget", "budget_usd", type=float, default=None,
              help="Cap on what this run may spend, in USD.")
@user_errors
def run(path: Path, answers: tuple[str, ...], model: str | None, policy: str,
        budget_usd: float | None) -> None:
    """Run every phase that is not done yet (questions, storyboard, frames, clips, export)."""
    from nbvideo.project import Project

    given = _parse_answers(answers)
    p = Project.open(path)
    if given:
        p.answer(**given)
    exports = p.run(model=model, policy=policy, budget_usd=budget_usd)
    for rec in exports or []:
        click.echo(f"{p.path / rec.path}  {rec.width}x{rec.height}  {rec.duration_s:.2f}s")
    p.close()


@main.command("export")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--format", "formats", multiple=True, default=("16:9",), show_default=True,
              type=click.Choice(ASPECTS), help="Aspect to export (repeatable).")
@click.option("--resolution", type=click.Choice(EXPORT_RESOLUTIONS), default=None,
              help="Default: the project's. 2160p from sources below it stops unless "
                   "--accept-upscale.")
@click.option("--fit", type=click.Choice(["crop", "pad"]), default="crop", show_default=True)
@click.option("--name", default="ad", show_default=True)
@click.option("--require-approval", is_flag=True,
              help="Refuse (exit 5, naming them) while any scene is not approved.")
@click.option("--smart/--full", default=True, show_default=True,
              help="Re-encode only what changed (default), or re-encode the whole film.")
@click.option("--accept-upscale", is_flag=True,
              help="Export at 2160p even where scenes are below it (they are upscaled).")
@user_errors
def export_cmd(path: Path, formats: tuple[str, ...], resolution: str | None, fit: str,
               name: str, require_approval: bool, smart: bool, accept_upscale: bool) -> None:
    """Export the timeline to MP4, one file per --format."""
    from nbvideo.project import Project

    p = Project.open(path)
    for rec in p.export(name, formats=list(formats), resolution=resolution, fit=fit,
                        require_approval=require_approval, smart=smart,
                        accept=["upscaled"] if accept_upscale else ()):
        r = rec.render
        how = "" if r is None else f"  {r.mode}"
        if r is not None and r.mode == "smart":
            how += f": {r.seconds_encoded:g} of {r.seconds_total:g} s encoded"
        if r is not None and r.fallback:
            how += f" (smart not possible: {r.fallback})"
        click.echo(f"{p.path / rec.path}  {rec.width}x{rec.height}  {rec.duration_s:.2f}s{how}")
    p.close()


@main.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--all", "show_all", is_flag=True, help="Every call, not the summary.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV.")
@user_errors
def costs(path: Path, show_all: bool, as_csv: bool) -> None:
    """Print the cost ledger (summary by phase and model, or --all calls)."""
    from nbvideo.project import Project

    p = Project.open(path, read_only=True)
    df = p.costs if show_all else p.cost_summary()
    if as_csv:
        click.echo(df.to_csv(index=False), nl=False)
    else:
        _print_table(df)


def _text_table(columns: dict[str, list[str]]) -> str:
    """Columns of text right-aligned under their headers, as pandas prints a table, for the
    commands that do not need pandas for anything else."""
    widths = {h: max(len(h), *(len(v) for v in vs)) for h, vs in columns.items()}
    rows = zip(*columns.values(), strict=True)
    lines = [" ".join(h.rjust(widths[h]) for h in columns)]
    lines += [" ".join(v.rjust(widths[h]) for h, v in zip(columns, row, strict=True))
              for row in rows]
    return "\n".join(lines)


@main.command(name="ls")
@click.argument("root", type=click.Path(path_type=Path), default=Path("."))
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV.")
@user_errors
def ls_cmd(root: Path, as_csv: bool) -> None:
    """List the projects under ROOT: phases, spend vs budget, last change, exports."""
    if as_csv:
        from nbvideo.overview import projects

        click.echo(projects(root).drop(columns=["first_frame"]).to_csv(index=False), nl=False)
        return
    from nbvideo.store.listing import project_rows  # no pandas: a listing starts quickly

    rows = project_rows(root)
    if not rows:
        click.echo(f"no nbvideo projects under {root}")
        return

    def money(r: dict[str, Any]) -> str:
        spent, budget = r["spent_usd"], r["budget_usd"]
        if spent is None:
            return ""
        return f"${spent:.2f}" + ("" if budget is None else f" / ${budget:.2f}")

    def text(v: Any) -> str:
        return "" if v is None else str(v)

    shown = {
        "path": [os.path.relpath(r["path"], root) for r in rows],
        "aspect": [text(r["aspect"]) for r in rows],
        "seconds": [f"{r['duration_s']:g}" if r["duration_s"] is not None else ""
                    for r in rows],
        "scenes": [text(r["scenes"]) for r in rows],
        **{ph: [text(r[ph]) for r in rows] for ph in ("frames", "clips", "export")},
        "spent": [money(r) for r in rows],
        "changed": [r["last_change"].strftime("%Y-%m-%d %H:%M") if r["last_change"] else ""
                    for r in rows],
        "error": [e if len(e) <= 72 else e[:71] + "…" for e in (r["error"] for r in rows)],
    }
    if not any(shown["error"]):
        del shown["error"]
    click.echo(_text_table(shown))


@main.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--to", "to", default=None, metavar="SNAPSHOT|EVENT",
              help="Go back to a snapshot or history event instead (see `nbvideo history`).")
@click.option("--missing-ok", is_flag=True, help="With --to: go even if assets are missing.")
@user_errors
def restore(path: Path, to: str | None, missing_ok: bool) -> None:
    """Put the last good project.json back (the unreadable one is kept aside), or with
    --to, return the project to a snapshot or history event (takes are kept)."""
    from nbvideo.project import Project

    if to is not None:
        with Project.open(path) as p:
            ev = p.restore(int(to) if to.isdigit() else to, missing_ok=missing_ok)
            click.echo(f"#{ev.id} {ev.summary}")
        return
    aside = Project.restore_last_good(path)
    click.echo(f"restored the last good copy of {path}"
               + (f"; the replaced file is kept as {aside}" if aside else ""))


def _scene_ref(ref: str) -> str | int:
    return int(ref) if ref.isdigit() else ref


_user_option = click.option("--user", "user", default=None,
                            help="Name in history and comments (default: NBVIDEO_USER or the "
                                 "OS user).")


def _open_as(path: Path, user: str | None) -> Any:
    from nbvideo.project import Project

    p = Project.open(path)
    if user is not None:
        try:
            p.user = user
        except BaseException:
            p.close()
            raise
    return p


@main.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--last", "last", type=int, default=20, show_default=True,
              help="How many of the latest events (0: all).")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV (every column).")
@user_errors
def history(path: Path, last: int, as_csv: bool) -> None:
    """Print the project's history: who changed what, when."""
    from nbvideo.project import Project

    df = Project.open(path, read_only=True).history
    if as_csv:
        click.echo(df.to_csv(index=False), nl=False)
        return
    df = df.tail(last) if last > 0 else df
    df = df.assign(time=df["time"].dt.strftime("%Y-%m-%d %H:%M:%S"),
                   summary=df["summary"].str.slice(0, 70),
                   undone=df["undone"].map({True: "undone", False: ""}),
                   snapshot=df["snapshot"].fillna(""))
    _print_table(df[["id", "time", "user", "kind", "summary", "snapshot", "undone"]])


@main.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--steps", type=click.IntRange(1, 100), default=1, show_default=True)
@_user_option
@user_errors
def undo(path: Path, steps: int, user: str | None) -> None:
    """Take back the last change(s); takes and comments are kept."""
    with _open_as(path, user) as p:
        for _ in range(steps):
            ev = p.undo()
            click.echo(f"#{ev.id} {ev.summary}")


@main.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--steps", type=click.IntRange(1, 100), default=1, show_default=True)
@_user_option
@user_errors
def redo(path: Path, steps: int, user: str | None) -> None:
    """Make the last undone change(s) again."""
    with _open_as(path, user) as p:
        for _ in range(steps):
            ev = p.redo()
            click.echo(f"#{ev.id} {ev.summary}")


@main.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.argument("name")
@click.option("--note", default="", help="Why this state is worth a name.")
@_user_option
@user_errors
def snapshot(path: Path, name: str, note: str, user: str | None) -> None:
    """Name the project's state now, e.g. sent-to-client (restore with --to NAME)."""
    with _open_as(path, user) as p:
        ev = p.snapshot(name, note)
        click.echo(f"snapshot {name!r} is history event #{ev.id}")


@main.command()
@click.argument("path", type=click.Path(path_type=Path))
@user_errors
def review(path: Path) -> None:
    """Print each scene's review status and its last comment."""
    from nbvideo.project import Project

    _print_table(Project.open(path, read_only=True).review)


@main.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.argument("scenes", nargs=-1, required=True)
@click.option("--note", default=None, help="A comment to go with the approval.")
@_user_option
@user_errors
def approve(path: Path, scenes: tuple[str, ...], note: str | None, user: str | None) -> None:
    """Approve scenes (by number or id)."""
    with _open_as(path, user) as p:
        for ref in scenes:
            p.approve(_scene_ref(ref), note)
            click.echo(f"approved scene {ref}")


@main.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.argument("scene")
@click.argument("text")
@_user_option
@user_errors
def comment(path: Path, scene: str, text: str, user: str | None) -> None:
    """Comment on a scene (by number or id)."""
    with _open_as(path, user) as p:
        p.comment(_scene_ref(scene), text)
        click.echo(f"comment added to scene {scene}")


@main.command("request-changes")
@click.argument("path", type=click.Path(path_type=Path))
@click.argument("scene")
@click.argument("text")
@_user_option
@user_errors
def request_changes(path: Path, scene: str, text: str, user: str | None) -> None:
    """Ask for changes to a scene (by number or id), saying which."""
    with _open_as(path, user) as p:
        p.request_changes(_scene_ref(scene), text)
        click.echo(f"changes requested on scene {scene}")


@main.group()
def audit() -> None:
    """The audit log of a team workspace (a folder with nbvideo-workspace.json)."""


@audit.command("verify")
@click.argument("root", type=click.Path(path_type=Path))
@user_errors
def audit_verify(root: Path) -> None:
    """Check the hash chain of ROOT/audit.jsonl: an edited, removed or reordered line is
    named and the command exits 11."""
    from nbvideo.team import verify_audit

    count = verify_audit(root)
    click.echo(f"{root / 'audit.jsonl'}: {count} entries, chain intact")


@main.group()
def campaign() -> None:
    """Campaigns: many variant projects that share assets and one budget, run on Dask."""


@campaign.command("run")
@click.argument("spec", type=click.Path(file_okay=False, path_type=Path))
@click.option("--cluster", default=None, metavar="ADDRESS",
              help="A running Dask scheduler, e.g. tcp://10.0.0.5:8786 (the campaign folder "
                   "must be on storage its workers share), 'gateway' for a cluster on the "
                   "hub's dask-gateway (DASK_GATEWAY__ADDRESS; shut down after), or 'inline' "
                   "to run the variants one by one here. Default: a LocalCluster sized for this "
                   "machine, one worker per core.")
@click.option("--workers", type=click.IntRange(min=1), default=None, metavar="N",
              help="With the default LocalCluster: N worker processes instead of one per core.")
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="A progress bar over the variants (on stderr).")
@user_errors
def campaign_run(spec: Path, cluster: str | None, workers: int | None, progress: bool) -> None:
    """Run every variant of the campaign folder SPEC that is not done for its recipe.

    Prints a row per variant. Exit 0 when every variant is done; 6 when some were refused by
    the campaign budget (and none failed); 3 when some failed (the row says why); running
    again redoes only those."""
    from nbvideo.campaign import Campaign

    c = Campaign.open(spec)
    res = c.run(cluster=cluster, progress=progress, workers=workers)
    _print_table(res[["variant", "status", "cost_usd", "clips_made", "clips_shared",
                      "error"]].fillna(""))
    statuses = set(res["status"])
    if statuses - {"done", "refused"}:
        sys.exit(EXIT_PROJECT)
    if "refused" in statuses:
        sys.exit(EXIT_BUDGET)


@main.group()
def templates() -> None:
    """Template packs: brief and storyboard templates, brand kits, looks and notebooks."""


@templates.command("install")
@click.argument("source")
@click.option("--force", is_flag=True, help="Replace an installed pack of the same name.")
@user_errors
def templates_install(source: str, force: bool) -> None:
    """Install a pack from SOURCE: a folder, a git URL, or the name of an installed Python
    package that declares an `nbvideo.templates` entry point. Nothing in it runs."""
    from nbvideo.marketplace import install_pack

    done = install_pack(source, force=force)
    was = f" (replaced {done.replaced})" if done.replaced else ""
    click.echo(f"installed {done.name} {done.version} from {done.origin.label()}{was}")


@templates.command("list")
@user_errors
def templates_list() -> None:
    """The packs there are, the built-in one first, with where each came from."""
    from nbvideo.marketplace import template_packs

    _print_table(template_packs().drop(columns=["description", "path"]))


@templates.command("remove")
@click.argument("name")
@user_errors
def templates_remove(name: str) -> None:
    """Uninstall the pack NAME."""
    from nbvideo.marketplace import remove_pack

    click.echo(f"removed {name} {remove_pack(name)}")


@templates.command("new")
@click.argument("name")
@click.option("--from-project", "project", required=True,
              type=click.Path(path_type=Path), help="The project to make the pack from.")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Folder to write the pack to (default: ./NAME).")
@user_errors
def templates_new(name: str, project: Path, out: Path | None) -> None:
    """Scaffold the pack NAME from a project: its brief, storyboard, brand kit and look."""
    from nbvideo.marketplace import new_pack

    dest = new_pack(name, project, out)
    click.echo(f"wrote {dest}; edit its nbvideo-pack.json (licence, description), then "
               f"`nbvideo templates install {dest}`")



@main.command()
@click.argument("root", type=click.Path(path_type=Path), default=Path("."))
@click.option("--due", is_flag=True, required=True,
              help="Post what is due (the only mode: made for cron and timers).")
@click.option("--grace-hours", type=click.FloatRange(min=0, min_open=True), default=24.0,
              show_default=True, help="A post found later than this after its time is "
                                      "marked missed and reported, not posted.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV.")
@user_errors
def publish(root: Path, due: bool, grace_hours: float, as_csv: bool) -> None:
    """Post every scheduled post that is due in the projects under ROOT, carry on uploads a
    dead process left half-way, and report missed ones. Safe to run from cron, a systemd
    timer or a JupyterHub service: a post is never published twice. Exits 1 when a post
    failed or was missed (so cron mails you), else 0."""
    from datetime import timedelta

    from nbvideo.deliver.publish import run_due
    from nbvideo.store.listing import find_projects

    if not root.is_dir():
        raise InvalidInput(f"ROOT must be a folder of projects, got {str(root)!r}")
    report = run_due(find_projects(root), grace=timedelta(hours=grace_hours))
    if as_csv:
        click.echo(report.to_csv(index=False), nl=False)
    elif report.empty:
        click.echo("nothing due")
    else:
        _print_table(report)
    if report["status"].isin(["failed", "missed"]).any():
        raise SystemExit(1)


if __name__ == "__main__":
    main()
