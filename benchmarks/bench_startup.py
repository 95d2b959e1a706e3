"""Start-up: what `import nbvideo` and a CLI command cost before they do any work.

Goals (issue 17): `import nbvideo` <= 0.25 s (``python -X importtime``, nbvideo's cumulative
line); `nbvideo --version` <= 0.3 s and `nbvideo ls` over 10 projects <= 0.6 s (wall time of a
fresh process, as a user runs them).

Each figure is the median of several fresh processes. So that it reads the same on a faster or
busier machine, each is also printed as a ratio to two starts measured in the same run: a bare
interpreter (`python -c pass`, the floor) and `python -c "import pandas"` (the naive path:
what every command paid when the package imported its DataFrame stack eagerly).
"""

from __future__ import annotations

import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = 5
N_PROJECTS = 10
# The console script's own code (`from nbvideo.cli import main; sys.exit(main())`), so the
# figure is the one a user waits for whichever `nbvideo` is first on their PATH.
CLI = "import sys; from nbvideo.cli import main; sys.argv[0] = 'nbvideo'; sys.exit(main())"


def children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def wall(args: list[str], runs: int = RUNS, cpu: list[float] | None = None) -> float:
    """Median wall time of `runs` fresh processes (their output discarded). With `cpu`, their
    median CPU time (user + system) is appended to it: on a machine shared with other work the
    wall time grows with the load, the CPU time much less."""
    times, cpus = [], []
    for _ in range(runs):
        c, t = children_cpu(), time.perf_counter()
        subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - t)
        cpus.append(children_cpu() - c)
    if cpu is not None:
        cpu.append(statistics.median(cpus))
    return statistics.median(times)


def import_time(module: str, runs: int = RUNS) -> float:
    """Median of `python -X importtime -c "import <module>"`: the module's cumulative line."""
    line = re.compile(rf"^import time:\s+\d+ \|\s+(\d+) \| {re.escape(module)}$", re.M)
    times = []
    for _ in range(runs):
        err = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {module}"],
                             check=True, capture_output=True, text=True).stderr
        found = line.search(err)
        if found is None:
            raise RuntimeError(f"no importtime line for {module}")
        times.append(int(found.group(1)) / 1e6)
    return statistics.median(times)


def make_projects(root: Path, n: int = N_PROJECTS) -> None:
    """`n` offline projects with questions answered and a storyboard, some with spend rows."""
    code = f"""
import nbvideo as nv
from pathlib import Path
for i in range({n}):
    p = nv.Project.open(Path({str(root)!r}) / f"ad-{{i:02d}}", brief="30s ad for a trail shoe",
                        seed=i)
    p.answer(**{{q.id: q.default for q in p.ask() if q.default}})
    p.storyboard()
    p.close()
"""
    subprocess.run([sys.executable, "-c", code], check=True, stdout=subprocess.DEVNULL)


def main() -> dict[str, float]:
    py = sys.executable
    cpu: list[float] = []
    bare = wall([py, "-c", "pass"], cpu=cpu)
    pandas_s = wall([py, "-c", "import pandas"], cpu=cpu)
    imp = import_time("nbvideo")
    imp_wall = wall([py, "-c", "import nbvideo"], cpu=cpu)
    version = wall([py, "-c", CLI, "--version"], cpu=cpu)
    with tempfile.TemporaryDirectory() as d:
        make_projects(Path(d))
        ls = wall([py, "-c", CLI, "ls", d], cpu=cpu)
    bare_cpu, pandas_cpu, *cpus = cpu
    print(f"start-up, median of {RUNS} fresh processes (bare python {bare * 1000:.0f} ms, "
          f"python -c 'import pandas' {pandas_s * 1000:.0f} ms wall, "
          f"{pandas_cpu * 1000:.0f} ms CPU)")
    rows = [("import nbvideo (importtime)", imp, 0.25, None),
            ("import nbvideo", imp_wall, None, cpus[0]),
            ("nbvideo --version", version, 0.3, cpus[1]),
            (f"nbvideo ls ({N_PROJECTS} projects)", ls, 0.6, cpus[2])]
    for name, s, goal, c in rows:
        said = f"(goal <= {goal:.2f} s)" if goal else " " * 17
        print(f"  {name:28s} {s * 1000:6.0f} ms {said}  {s / bare:5.1f}x bare python, "
              f"{s / pandas_s:5.2f}x import pandas"
              + (f"; CPU {c * 1000:4.0f} ms, {c / pandas_cpu:4.2f}x import pandas's" if c else ""))
    return {"import_nbvideo_s": imp, "import_nbvideo_wall_s": imp_wall, "version_s": version,
            "ls_10_s": ls, "version_bare_ratio": version / bare,
            "version_pandas_ratio": version / pandas_s, "ls_pandas_ratio": ls / pandas_s,
            "ls_cpu_pandas_ratio": cpus[2] / pandas_cpu}


if __name__ == "__main__":
    os.environ.setdefault("NBVIDEO_SKIP_BROWSER", "1")
    main()
