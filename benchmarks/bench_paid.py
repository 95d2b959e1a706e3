"""The paid path, measured: a 30 s, 6-scene ad from brief to an exported first cut with
providers="openai+replicate" and model="auto", against the OpenAI and Replicate API doubles
over loopback (real SDKs, real request/response shapes), real-world latencies scaled 10x
down: a chat completion 5 s -> 0.5 s, a frame 3 s -> 0.3 s, a clip 90 s -> 9 s.

Figure: wall time / (planning latency + one clip's latency), goal <= 1.3: the clips run
at once, so a first cut should cost about one clip's wait after the plan. Also: status
requests per clip, dollars spent (the ledger), and the share of paid clip seconds the export
keeps. Then the same with the engine routing picks first 3x slow, with it failing every
prediction (fallback moves each scene on; once the ledger has seen it fail, auto routes
around it), and with webhooks instead of polling: the Jupyter server extension's own
handler (nbvideo.serverext.ReplicateWebhookHandler) on a tornado server in this process,
spooling verified webhooks the way it does behind JupyterHub.

The pollers are told the scaled latencies (TYPICAL_LATENCY_S / 10, as they would know the
real ones, and the schedule's probe and cap seconds 10x down too); nothing else in the
library is changed.

What it shows (2 shared cores; see the report for a run's figures): routing knows nothing of
a slow engine on a first cut (the ledger has no latencies yet), so 3x slow costs about 3x;
once the ledger holds its latencies, a re-cut routes around it (health's `slow`). A failing
engine costs each scene one failed prediction (a failed scene waits for its siblings on the
same model before retrying, and by then the ledger shows the model down), then the scenes
fall back: about two clip latencies; the next clips route around it from the start. A new
project on the same machine starts from what the first one saw (store/engine_log.py), so
its first cut routes around the slow or failing engine before paying for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import nbvideo as nv  # noqa: E402
from nbvideo.keys import forget_keys  # noqa: E402
from nbvideo.providers import catalog  # noqa: E402
from nbvideo.providers import replicate as replicate_mod  # noqa: E402
from tests.doubles.openai_double import default_questions, start_openai_double  # noqa: E402
from tests.doubles.replicate_double import start_replicate_double  # noqa: E402

SCALE = 0.1
CHAT_S, FRAME_S, CLIP_S = 5.0 * SCALE, 3.0 * SCALE, 90.0 * SCALE
OPENAI_KEY = "sk-bench-" + "k" * 30
TOKEN = "r8_bench" + "p" * 24
BRIEF = "30 second ad for a waterproof trail shoe for weekend hikers"
BEATS = [("hook", 5.0, "close-up", True), ("problem", 5.0, "wide", True),
         ("product", 5.0, "detail", False), ("proof", 5.0, "medium", True),
         ("benefit", 5.0, "wide", True), ("call-to-action", 5.0, "medium", True)]


def six_scenes() -> dict[str, Any]:
    """What the chat model answers for the storyboard: six 5 s scenes (the schema the
    planner asks for, as the double's default storyboard has it)."""
    return {"title": "Rain-proof trails", "structure": "problem-solution", "scenes": [
        {"beat": b, "title": f"{b.title()} scene", "description": f"The {b} beat of the ad.",
         "visual_prompt": f"{shot} photo of a hiker on a muddy trail in rain, {b}, cinematic",
         "shot": shot, "camera": "push-in" if i % 2 else "static", "duration_s": d,
         "on_screen_text": "Shop now" if b == "call-to-action" else "",
         "voice_line": "Shop now at your local store." if b == "call-to-action" else "",
         "complexity": {"people": people, "fast_motion": b == "hook",
                        "camera_move": bool(i % 2), "legible_text": b == "call-to-action",
                        "product_closeup": shot == "detail", "dialogue": False}}
        for i, (b, d, shot, people) in enumerate(BEATS)]}


@contextlib.contextmanager
def env(**values: str | None) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    for k, v in values.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    forget_keys()
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        forget_keys()


@contextlib.contextmanager
def scaled_expectations() -> Iterator[None]:
    """The pollers expect what the doubles do: each model's typical latency, and the
    schedule's own seconds (when to probe a long prediction, the longest gap), 10x down."""
    from nbvideo.providers import replicate_polling as polling

    old = dict(replicate_mod.TYPICAL_LATENCY_S)
    consts = (polling.PROBE_FROM_S, polling.POLL_CAP_S)
    polling.PROBE_FROM_S, polling.POLL_CAP_S = consts[0] * SCALE, consts[1] * SCALE
    for m in old:
        replicate_mod.TYPICAL_LATENCY_S[m] = (FRAME_S if catalog.get_model(m).kind == "image"
                                              else CLIP_S)
    try:
        yield
    finally:
        replicate_mod.TYPICAL_LATENCY_S.clear()
        replicate_mod.TYPICAL_LATENCY_S.update(old)
        polling.PROBE_FROM_S, polling.POLL_CAP_S = consts


@contextlib.contextmanager
def webhook_receiver(rep: Any, spool_dir: Path) -> Iterator[None]:
    """The server extension's handler on a tornado server in a thread of this process,
    announced in a spool the way the extension announces itself behind JupyterHub."""
    from tornado import httpserver, netutil, web
    from tornado.ioloop import IOLoop

    from nbvideo.serverext import Receiver, ReplicateWebhookHandler
    from nbvideo.webhooks import ROUTE, Spool, signing_key

    spool = Spool(spool_dir)
    spool.prepare()
    token = spool.route_token()
    ready = threading.Event()
    box: dict[str, Any] = {}

    def serve() -> None:
        asyncio.set_event_loop(asyncio.new_event_loop())
        loop = IOLoop.current()
        receiver = Receiver(spool=spool, token=token, url="", log=logging.getLogger("bench"),
                            key=signing_key(rep.webhook_secret))
        app = web.Application([(rf"/{ROUTE}/([^/]+)", ReplicateWebhookHandler,
                                 {"receiver": receiver})])
        server = httpserver.HTTPServer(app)
        sockets = netutil.bind_sockets(0, "127.0.0.1")
        server.add_sockets(sockets)
        port = sockets[0].getsockname()[1]
        box.update(loop=loop, server=server, url=f"http://127.0.0.1:{port}/{ROUTE}/{token}")
        ready.set()
        loop.start()

    thread = threading.Thread(target=serve, daemon=True, name="webhook-receiver")
    thread.start()
    ready.wait(10)
    spool.announce(box["url"])
    try:
        with env(NBVIDEO_WEBHOOK_SPOOL=str(spool_dir), NBVIDEO_WEBHOOKS=None):
            yield
    finally:
        spool.withdraw()
        box["loop"].add_callback(box["server"].stop)
        box["loop"].add_callback(box["loop"].stop)
        thread.join(5)


def figures(p: nv.Project, oa: Any, rep: Any) -> dict[str, Any]:
    """What the run so far cost and made: from the ledger, the timeline and the doubles."""
    costs = p.costs
    chats = sum(v for k, v in oa.counts.items() if k.endswith("/chat/completions"))
    clip_refs = {m.ref for m in catalog.models("video") if m.provider == "replicate"}
    clips_made = sum(n for ref, n in rep.creates.items() if ref in clip_refs)
    paid = costs.loc[(costs["kind"] == "actual") & (costs["phase"] == "clips")]
    return {"chats": chats, "clip_creates": clips_made,
            "status_per_clip": sum(rep.status_requests.values()) / max(1, clips_made),
            "usd": float(costs.loc[costs["kind"] == "actual", "cost_usd"].fillna(0).sum()),
            "charged_usd": oa.charged_usd + rep.charged_usd,
            # paid clip seconds, failed predictions included (they are billed too);
            # a prediction abandoned in the queue cost nothing and is not counted
            "paid_s": float(paid.loc[(paid["unit"] == "second") & (paid["cost_usd"] > 0),
                                     "units"].sum()),
            "kept_s": float(p.timeline.to_pandas()["kept_s"].sum()),
            "failed": int((paid["status"] == "failed").sum()),
            "models": [sc.clip.model if sc.clip else None for sc in p.scenes],
            "webhooks": len(rep.webhook_deliveries)}


def first_cut(root: Path, name: str, oa: Any, rep: Any) -> tuple[Any, dict[str, Any]]:
    """Brief -> exported first cut of a new project, timed phase by phase."""
    oa.push(default_questions())  # the questions come first, then the storyboard
    oa.push(six_scenes())
    started = time.perf_counter()
    p = nv.Project.open(root / name, brief=BRIEF, duration_s=30, fps=24,
                        providers="openai+replicate")
    p.storyboard()  # what p.run(model="auto") does, timed phase by phase
    t_plan = time.perf_counter()
    p.generate_clips(model="auto").wait(600)
    t_clips = time.perf_counter()
    p.export("ad", formats=[p.brief.aspect])
    wall = time.perf_counter() - started
    out = {"wall_s": wall, "plan_s": t_plan - started, "clips_s": t_clips - t_plan,
           "export_s": started + wall - t_clips, **figures(p, oa, rep)}
    out["ratio"] = wall / (out["chats"] * CHAT_S + CLIP_S)
    return p, out


def run_once(root: Path, name: str, *, slow: str | None = None, failing: str | None = None,
             webhooks: bool = False, spool_dir: Path | None = None,
             recut: bool = False, next_project: bool = False) -> dict[str, Any]:
    """One scenario, with an engine log of its own (store/engine_log.py): with `recut`, every
    clip made again in the same project; with `next_project`, a second project's first cut
    on the same machine, which starts from what the first saw of the engines."""
    oa = start_openai_double(api_key=OPENAI_KEY, latency_s=CHAT_S)
    rep = start_replicate_double(TOKEN)
    rep.latency_s = FRAME_S
    for m in catalog.models("video"):
        if m.provider == "replicate":
            rep.latency_by_model[m.ref] = CLIP_S * (3 if m.id == slow else 1)
    failing_ref = catalog.get_model(failing).ref if failing else None
    if failing_ref:
        rep.fail_refs[failing_ref] = 10_000
        rep.fail_message = "CUDA error: an illegal memory access was encountered"
    variables = dict(OPENAI_API_KEY=OPENAI_KEY, OPENAI_BASE_URL=oa.base_url,
                     REPLICATE_API_TOKEN=TOKEN, REPLICATE_BASE_URL=rep.base_url,
                     NBVIDEO_DOWNLOAD_HOSTS="127.0.0.1",
                     NBVIDEO_WEBHOOKS=None if webhooks else "0",
                     NBVIDEO_ENGINE_LOG=str(root / f"{name}-engines.jsonl"))
    try:
        with env(**variables), scaled_expectations(), (
                webhook_receiver(rep, spool_dir) if webhooks and spool_dir
                else contextlib.nullcontext()):
            p, out = first_cut(root, name, oa, rep)
            if recut:  # every clip made again (new seeds): routed with the ledger's health
                before = dict(out)
                t0 = time.perf_counter()
                jobs = [p.regenerate_clip(sc.id, force=True, model="auto") for sc in p.scenes]
                for job in jobs:
                    job.wait(600)
                p.export("ad2", formats=[p.brief.aspect])
                wall2 = time.perf_counter() - t0
                after = figures(p, oa, rep)
                out["again"] = {"wall_s": wall2, "models": after["models"],
                                "usd": after["usd"] - before["usd"],
                                "failed": after["failed"] - before["failed"],
                                "clip_creates": after["clip_creates"] - before["clip_creates"]}
            out["est"] = p.estimate(model="auto")
            p.close()
            if next_project:
                q, out["next"] = first_cut(root, f"{name}-next", oa, rep)
                q.close()
        return out
    finally:
        oa.stop()
        rep.stop()


def show(name: str, r: dict[str, Any]) -> None:
    used = ", ".join(f"{m} x{r['models'].count(m)}" for m in dict.fromkeys(r["models"]))
    print(f"  {name:24s} wall {r['wall_s']:5.1f} s (plan {r['plan_s']:.1f} + clips "
          f"{r['clips_s']:.1f} + export {r['export_s']:.1f}); wall/(plan+clip) "
          f"{r['ratio']:.2f} (goal <= 1.3); status req/clip {r['status_per_clip']:.2f}; "
          f"${r['usd']:.2f} (vendors billed ${r['charged_usd']:.2f}); export keeps "
          f"{r['kept_s']:.0f} of {r['paid_s']:.0f} paid clip s ({r['kept_s'] / r['paid_s']:.0%})"
          f"; failed predictions {r['failed']}; clips by {used}")


def reasons(r: dict[str, Any]) -> list[str]:
    est = r["est"]
    col = "reason" if "reason" in est else est.columns[-1]
    return [f"{row['scene']}: {row['model']} - {row[col]}" for _, row in est.iterrows()
            if str(row.get("scene")) not in ("", "total", "nan")][:2]


def again(r: dict[str, Any]) -> None:
    a = r["again"]
    used = ", ".join(f"{m} x{a['models'].count(m)}" for m in dict.fromkeys(a["models"]))
    print("    then every clip again (p.regenerate_clip(force=True, model='auto')), routed with"
          " the ledger's health:")
    print(f"  {'':24s} clips + export {a['wall_s']:.1f} s = "
          f"{a['wall_s'] / CLIP_S:.2f}x one clip; ${a['usd']:.2f}; failed predictions "
          f"{a['failed']} of {a['clip_creates']}; clips by {used}")
    for line in reasons(r):
        print(f"      route {line}")


def main() -> dict[str, float]:
    log = logging.getLogger("nbvideo")
    level = log.level
    log.setLevel(logging.ERROR)  # the failing engine's warnings are the figures' business
    try:
        return _main()
    finally:
        log.setLevel(level)


def _main() -> dict[str, float]:
    print(f"30 s, 6-scene ad, providers='openai+replicate', model='auto', against the doubles; "
          f"latencies 10x down: chat {CHAT_S:g} s, frame {FRAME_S:g} s, clip {CLIP_S:g} s")
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        base = run_once(root, "base")
        counts: dict[str, int] = {}
        for m in base["models"]:
            counts[m] = counts.get(m, 0) + 1
        top = max(counts, key=lambda m: counts[m])  # the model routing picks first
        slow = run_once(root, "slow", slow=top, recut=True, next_project=True)
        bad = run_once(root, "failing", failing=top, recut=True, next_project=True)
        hooked = run_once(root, "hooked", webhooks=True, spool_dir=root / "spool")
    show("polling (base)", base)
    show(f"{top} 3x slow", slow)
    again(slow)
    print("    then a new project's first cut on this machine (engine outcomes shared):")
    show("  next project", slow["next"])
    show(f"{top} failing", bad)
    again(bad)
    print("    then a new project's first cut on this machine (engine outcomes shared):")
    show("  next project", bad["next"])
    show("webhooks", hooked)
    print(f"  webhooks delivered: {hooked['webhooks']} for {hooked['clip_creates']} clips")
    return {"paid_wall_over_plan_clip": base["ratio"],
            "paid_status_per_clip": base["status_per_clip"],
            "paid_usd": base["usd"], "paid_kept_share": base["kept_s"] / base["paid_s"],
            "paid_slow_wall_over_plan_clip": slow["ratio"],
            "paid_slow_recut_over_clip": slow["again"]["wall_s"] / CLIP_S,
            "paid_failing_wall_over_plan_clip": bad["ratio"],
            "paid_failing_recut_over_clip": bad["again"]["wall_s"] / CLIP_S,
            "paid_slow_next_project_wall_over_plan_clip": slow["next"]["ratio"],
            "paid_failing_next_project_wall_over_plan_clip": bad["next"]["ratio"],
            "paid_webhooks_wall_over_plan_clip": hooked["ratio"],
            "paid_webhooks_status_per_clip": hooked["status_per_clip"]}


if __name__ == "__main__":
    main()
