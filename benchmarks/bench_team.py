"""Team workspaces, measured: caps under concurrent spenders, and what the role gate costs.

1. Concurrency: four kernels (processes) spend at once in one workspace, two people in two
   projects each, every call $0.05 through the real money gate (`Runtime.paid`), with a
   person cap of $0.60 for each and a workspace cap of $1.00. Figures: how far spend went over
   each cap (must be <= 0), how much of each cap was used (1.0 = every cent, nothing held back),
   calls made and refused.
2. The gate's cost: the same 200 paid calls in one process in a project outside any workspace
   and in one inside (roles checked, the person's and the workspace's holds in the shared file
   under its lock, spent read from the ledgers, an audit line per call). Figure: the ratio of
   time per call, workspace / plain.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import nbvideo as nv  # noqa: E402
from nbvideo.errors import BudgetExceeded  # noqa: E402

MODEL = "fake-paid-video"
SMALL = dict(aspect="16:9", duration_s=6.0, resolution="720p", fps=12)
CALL_USD, CALLS = 0.05, 25
PERSON_CAP, WORKSPACE_CAP = 0.60, 1.00


def spend(p: nv.Project, usd: float) -> None:
    rt = p.runtime
    with rt.paid(phase="clips", provider="replicate", model=MODEL, estimate_usd=usd,
                 item="a bench clip") as held:
        held.actual_usd = usd
        rt.log(phase="clips", provider="replicate", model=MODEL, cost_usd=usd,
               estimated_usd=usd, units=1, unit="clip")


def _spender(root: str, user: str, project: str, start: object, out: object) -> None:
    os.environ["JUPYTERHUB_USER"] = user
    os.environ.pop("JUPYTERHUB_API_TOKEN", None)
    p = nv.Project.open(Path(root) / project)
    start.wait(60)  # type: ignore[attr-defined]
    made = refused = 0
    for _ in range(CALLS):
        try:
            spend(p, CALL_USD)
            made += 1
        except BudgetExceeded:
            refused += 1
    p.close()
    out.put((made, refused))  # type: ignore[attr-defined]


def concurrency(tmp: Path) -> dict[str, float]:
    root = tmp / "agency"
    os.environ["JUPYTERHUB_USER"] = "ana"
    nv.create_workspace(root, budget_usd=WORKSPACE_CAP)
    nv.set_role(root, "bo", "editor")
    nv.set_role(root, "cy", "editor")
    jobs = [("bo", "p1"), ("bo", "p2"), ("cy", "p3"), ("cy", "p4")]
    for user, project in jobs:
        nv.set_budget(root, PERSON_CAP, user=user)
        nv.Project.open(root / project, brief=f"6s ad number {project}", **SMALL).close()
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_spender, args=(str(root), u, proj, start, out))
             for u, proj in jobs]
    for proc in procs:
        proc.start()
    start.set()
    results = [out.get(timeout=600) for _ in procs]
    for proc in procs:
        proc.join(60)
    usage = nv.usage(root)
    per_user = usage.groupby("user")["spend_usd"].sum()
    total = float(usage["spend_usd"].sum())
    figures = {
        "team_over_workspace_cap_usd": round(total - WORKSPACE_CAP, 6),
        "team_over_person_cap_usd": round(max(float(per_user.get(u, 0.0)) - PERSON_CAP
                                              for u in ("bo", "cy")), 6),
        "team_workspace_cap_used": total / WORKSPACE_CAP,
        "team_calls_made": float(sum(r[0] for r in results)),
        "team_calls_refused": float(sum(r[1] for r in results)),
    }
    nv.verify_audit(root)  # four processes appended at once: the chain still holds
    return figures


def overhead(tmp: Path, calls: int = 200) -> dict[str, float]:
    os.environ["JUPYTERHUB_USER"] = "ana"
    plain = nv.Project.open(tmp / "plain", brief="6s ad for a plain project", **SMALL)
    nv.create_workspace(tmp / "ws")
    inside = nv.Project.open(tmp / "ws" / "p", brief="6s ad for a team project", **SMALL)
    times = {}
    for name, p in (("plain", plain), ("workspace", inside)):
        started = time.perf_counter()
        for _ in range(calls):
            spend(p, 0.001)
        times[name] = (time.perf_counter() - started) / calls
        p.close()
    print(f"per paid call: plain {times['plain'] * 1e3:.2f} ms, "
          f"workspace {times['workspace'] * 1e3:.2f} ms")
    return {"team_gate_overhead_ratio": times["workspace"] / times["plain"]}


def main() -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="nbvideo-bench-team-") as tmp:
        figures = concurrency(Path(tmp))
        figures.update(overhead(Path(tmp)))
    for k, v in figures.items():
        print(f"{k:32s} {v:10.3f}")
    return figures


if __name__ == "__main__":
    main()
