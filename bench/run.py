"""Benchmarks: what a decision costs this daemon, against the original's way and GNU find.

``python -m bench.run`` (or ``nox -s bench``) generates the workspaces once (``bench.generate``,
cached under ``bench/.workspaces``), then reports in one run, side by side:

1. a full scan (nothing newer than t) with a warm cache: GNU ``find -printf '%C@'`` (the floor),
   the seed-style ``os.walk`` + ``os.lstat``, one ``aiofiles.os.stat`` per file, and this project,
   also with ``--skip-git-ignored`` (5.);
2. an early-exit scan with one recent change (warm cache): no hint, and the hot-folder hint;
3. the CPU the daemon spends over a scaled monitoring run (idle time 30 s, a file touched every
   5 s in one folder for 2 minutes) against a seed-style loop walking everything every 1 s, and
   how soon after the workspace became idle each noticed;
4. peak resident memory of a full scan of the largest workspace, against the bare interpreter;
6. a full scan with a cold cache, ``find`` and this project, each right after its own drop of the
   page cache, dentries and inodes (``sync; echo 3 > /proc/sys/vm/drop_caches``): after an hour
   idle, that is the scan a user pays for. It needs root and a writable ``/proc/sys``; elsewhere
   (a container) it is skipped with a note. The drop slows everything else on the machine for a
   while; ``--no-cold`` leaves it out.

Workspaces: ``--sizes 100k,1m,home-300k``: the bench shape by size, and ``home-N``, a tree shaped
like a real home (many small folders: conda, repositories with ``node_modules``, caches, a few big
data folders; ``bench.home``). The monitoring run counts the daemon's walks from the JSON line
``bench.daemon_stats`` writes per scan. It prints a table and writes every raw figure to
``bench/out/results.json``. Compare figures within one run only: other work on the machine moves
absolute times.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import platform
import random
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from autostop_async.changes import WorkspaceScanner
from autostop_async.git_records import GitSignal, IgnoredFolders, open_repo
from bench.daemon_stats import read_stats
from bench.generate import Workspace, ensure_workspace
from bench.walks import FIND_ARGS, aiofiles_walk, find_walk, seed_walk

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_OUT = HERE / "out" / "results.json"
#: Above this many files the per-file aiofiles walk is left out (it would take minutes).
AIOFILES_MAX_FILES = 100_000
AIOFILES_REPS = 2
DROP_CACHES = Path("/proc/sys/vm/drop_caches")


# -- measuring -------------------------------------------------------------------------------


def _cpu() -> float:
    """CPU seconds of this process (all threads) and of its reaped children (find, git)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def measure(fn: Callable[[], object]) -> dict[str, Any]:
    """Wall and CPU seconds of one call, and what it returned (for its counters)."""
    c0, w0 = _cpu(), time.perf_counter()
    out = fn()
    wall, cpu = time.perf_counter() - w0, _cpu() - c0
    return {"wall": wall, "cpu": cpu, "out": out}


def median(runs: list[dict[str, Any]], key: str) -> float:
    """The median of one figure over repeated runs."""
    return float(statistics.median(r[key] for r in runs))


def _settle() -> float:
    """A time strictly between what was done before and what follows (coarse kernel clock)."""
    time.sleep(0.02)
    t = time.time()
    time.sleep(0.02)
    return t


# -- 1 and 5: full scans -----------------------------------------------------------------------


def full_scans(
    loop: asyncio.AbstractEventLoop, root: Path, files: int, reps: int
) -> dict[str, list[dict[str, Any]]]:
    """Every full-scan method, ``reps`` times, interleaved so that load hits them alike."""
    threshold = time.time()
    project = WorkspaceScanner([root])
    skipping = WorkspaceScanner([root], skip_git_ignored=True)

    def scan(scanner: WorkspaceScanner) -> dict[str, Any]:
        result = loop.run_until_complete(scanner.scan(threshold))
        s = result.stats
        return {"files": s.files, "dirs": s.dirs, "ignored_dirs": s.ignored_dirs}

    methods: dict[str, Callable[[], object]] = {
        "find": lambda: find_walk(str(root)),
        "seed": lambda: {"files": seed_walk(str(root))[1]},
        "project": lambda: scan(project),
        "project_skip_git_ignored": lambda: scan(skipping),
    }
    if files <= AIOFILES_MAX_FILES:
        methods["aiofiles"] = lambda: {
            "files": loop.run_until_complete(aiofiles_walk(str(root)))[1]
        }
    find_walk(str(root))  # warm the caches once for everyone
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in methods}
    names = list(methods)
    for rep in range(reps):
        for name in names[rep % len(names) :] + names[: rep % len(names)]:
            if name == "aiofiles" and len(runs[name]) >= AIOFILES_REPS:
                continue  # 20 times slower than the rest: two runs say enough
            runs[name].append(measure(methods[name]))
    project.close()
    skipping.close()
    return runs


# -- 6: cold cache ------------------------------------------------------------------------------


def drop_caches() -> str | None:
    """Drop the page cache, dentries and inodes; None when done, else why it could not."""
    if os.geteuid() != 0:
        return "not root"
    os.sync()
    try:
        DROP_CACHES.write_text("3\n")
    except OSError as exc:
        return f"cannot write {DROP_CACHES} ({exc.strerror or type(exc).__name__})"
    return None


def cold_scans(
    loop: asyncio.AbstractEventLoop, root: Path, reps: int
) -> dict[str, list[dict[str, Any]]]:
    """``find`` and this project, ``reps`` times each, every run right after its own drop."""
    threshold = time.time()
    project = WorkspaceScanner([root])

    def scan() -> dict[str, Any]:
        s = loop.run_until_complete(project.scan(threshold)).stats
        return {"files": s.files, "dirs": s.dirs, "workers": s.workers}

    methods: dict[str, Callable[[], object]] = {
        "find": lambda: find_walk(str(root)),
        "project": scan,
    }
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in methods}
    for rep in range(reps):
        for name in list(methods)[rep % 2 :] + list(methods)[: rep % 2]:
            why = drop_caches()
            if why is not None:
                raise RuntimeError(f"dropping the caches failed: {why}")
            runs[name].append(measure(methods[name]))
    project.close()
    return runs


# -- 2: early exit -----------------------------------------------------------------------------


def pick_source_file(root: Path) -> Path:
    """A file of a repository's source, chosen by a seeded draw: where a user works.

    The bench shape has one repository (``proj``), the home shape several (``projects/*``).
    """
    src = root / "proj" / "src"
    if not src.is_dir():
        src = sorted((root / "projects").glob("*/src"))[0]
    candidates: list[str] = []
    for folder, dirs, names in os.walk(src):
        dirs.sort()
        candidates.extend(os.path.join(folder, n) for n in sorted(names))
    return Path(random.Random(7).choice(candidates))


def early_exit(loop: asyncio.AbstractEventLoop, root: Path, reps: int) -> dict[str, Any]:
    """One file changed: a cold scan (no hint) and one told the hot folder first."""
    changed = pick_source_file(root)
    threshold = _settle()
    os.utime(changed)
    out: dict[str, Any] = {"changed": str(changed.relative_to(root)), "no_hint": [], "hint": []}
    for _ in range(reps):
        for kind, first in (("no_hint", []), ("hint", [str(changed.parent)])):
            scanner = WorkspaceScanner([root])  # a new scanner: nothing remembered

            def scan(s: WorkspaceScanner = scanner, f: list[str] = first) -> dict[str, Any]:
                result = loop.run_until_complete(s.scan(threshold, first=f))
                assert result.newer_than(threshold) is not None, "the change was not found"
                return {"files": result.stats.files, "dirs": result.stats.dirs}

            out[kind].append(measure(scan))
            scanner.close()
    return out


# -- git -----------------------------------------------------------------------------------------


def git_costs(root: Path, reps: int = 200) -> dict[str, Any]:
    """What the git signal costs per check, and ``git ls-files`` for ``--skip-git-ignored``."""
    repo = str(root / "proj")
    t = time.time()
    first = measure(lambda: open_repo(repo))  # includes importing gitpython
    opened = measure(lambda: open_repo(repo))
    handle = opened["out"]
    handle.activity(t, t)  # the first read parses the reflog's last line
    check = measure(lambda: [handle.activity(t, t) for _ in range(reps)])
    signal_ = GitSignal(lambda: [repo])
    loop = asyncio.new_event_loop()
    loop.run_until_complete(signal_.newer_than(t))
    calls = 50
    via_signal = measure(
        lambda: [loop.run_until_complete(signal_.newer_than(t)) for _ in range(calls)]
    )
    loop.close()
    ignored = measure(lambda: IgnoredFolders()(repo))
    return {
        "first_open_repo_seconds": first["wall"],
        "open_repo_seconds": opened["wall"],
        "check_seconds": check["wall"] / reps,
        "check_cpu_seconds": check["cpu"] / reps,
        "signal_call_seconds": via_signal["wall"] / calls,
        "ls_files": {
            "wall": ignored["wall"],
            "cpu": ignored["cpu"],
            "folders": len(ignored["out"]),
        },
    }


# -- 3: a monitoring run -------------------------------------------------------------------------


class _Watcher:
    """Reads a child's output lines and notes when the first line matching ``pattern`` came."""

    def __init__(self, proc: subprocess.Popen[str], stream: Any, pattern: str) -> None:
        self.proc = proc
        self.pattern = re.compile(pattern)
        self.seen_at: float | None = None
        self.lines: list[str] = []
        self.done = threading.Event()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            self.lines.append(line.rstrip("\n"))
            if self.seen_at is None and self.pattern.search(line):
                self.seen_at = time.time()
                self.done.set()
        self.done.set()


def _seed_phase(lines: list[str]) -> dict[str, Any]:
    """What the loop's single delay hides: it depends on where the idle moment fell between two
    of its checks. Over every phase, the expected delay is sum(gap^2) / (2 sum(gap)), the worst
    one gap; and its decision rests on a walk that began up to one walk earlier."""
    checks = [line.split() for line in lines if line.startswith("check ")]
    ends = [float(c[1]) for c in checks]
    walks = [float(c[2]) for c in checks]
    gaps = [b - a for a, b in itertools.pairwise(ends)]
    if not gaps:
        return {"checks": len(checks)}
    return {
        "checks": len(checks),
        "expected_delay": sum(g * g for g in gaps) / (2 * sum(gaps)),
        "worst_delay": max(gaps),
        "walk_median": statistics.median(walks),
    }


def _proc_rss_kib(pid: int) -> int | None:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return None


def _reap(proc: subprocess.Popen[str], stop: bool) -> dict[str, Any]:
    """End a child (SIGTERM when ``stop``) and return its CPU seconds (children included)."""
    rss = _proc_rss_kib(proc.pid)
    if stop:  # not Popen.poll(): it would reap the child, and wait4 must
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {"cpu": usage.ru_utime + usage.ru_stime, "vmhwm_kib": rss}


def _daemon_flags() -> tuple[list[str], list[str]]:
    """Flags that leave only change detection on, and flags that keep the rest side-effect free."""
    text = subprocess.run(
        [sys.executable, "-m", "autostop_async", "--help"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    ).stdout
    only = [f for f in ("--no-editor", "--no-terminals", "--no-busy") if f in text]
    quiet = ["--warn-before", "0"] if "--warn-before" in text else []
    if "--notice-file" in text:
        quiet += ["--notice-file", ""]
    return only, quiet


def monitoring_run(
    root: Path, idle_time: float, touch_every: float, duration: float, all_signals: bool
) -> dict[str, Any]:
    """The daemon and the seed-style loop watch the same workspace while one file is touched."""
    touched = pick_source_file(root).with_name("bench_touched.py")
    touched.touch()
    state = Path(tempfile.mkdtemp(prefix="autostop-bench-"))
    only, quiet = _daemon_flags()
    scale = idle_time / 3600.0

    def scans_file(tag: str) -> Path:
        return state / f"{tag}.scans.jsonl"

    def daemon(extra: list[str], tag: str) -> list[str]:
        """The daemon's command line, run by ``bench.daemon_stats``: a JSON line per scan."""
        return [
            sys.executable,
            "-m",
            "bench.daemon_stats",
            str(scans_file(tag)),
            "--dry-run",
            "--idle-time",
            f"{idle_time:g}",
            "--interval",
            f"{60 * scale:g}",  # the default 60 s, scaled like the idle time
            "--watch",
            str(root),
            "--state-dir",
            str(state / tag),
            "--metadata-file",
            "/nonexistent/resource-metadata.json",
            *quiet,
            *extra,
        ]

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.time()
    procs: dict[str, tuple[subprocess.Popen[str], _Watcher]] = {}
    tags = {"daemon": "daemon", "daemon_all_signals": "all"}

    def spawn(name: str, cmd: list[str], stream: str, pattern: str) -> None:
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env,
            text=True,
            stdout=subprocess.PIPE if stream == "stdout" else subprocess.DEVNULL,
            stderr=subprocess.PIPE if stream == "stderr" else subprocess.DEVNULL,
        )
        procs[name] = (proc, _Watcher(proc, getattr(proc, stream), pattern))

    spawn("daemon", daemon(only, tags["daemon"]), "stderr", r"would delete")
    if all_signals:
        spawn(
            "daemon_all_signals", daemon([], tags["daemon_all_signals"]), "stderr", r"would delete"
        )
    seed_interval = 120 * scale  # the original's cron interval, scaled
    spawn(
        "seed_loop",
        [
            sys.executable,
            "-m",
            "bench.seed_loop",
            str(root),
            "--idle-time",
            f"{idle_time:g}",
            "--interval",
            f"{seed_interval:g}",
        ],
        "stdout",
        r"^idle ",
    )
    touches = 0
    while time.time() - started < duration:
        os.utime(touched)
        touches += 1
        time.sleep(max(0.0, started + touches * touch_every - time.time()))
    idle_from = touched.stat().st_ctime + idle_time
    out: dict[str, Any] = {
        "workspace_files": None,
        "idle_time": idle_time,
        "touch_every": touch_every,
        "duration": duration,
        "touches": touches,
        "daemon_interval": 60 * scale,
        "seed_interval": seed_interval,
        "daemon_flags": only + quiet,
    }
    deadline = idle_from + max(30.0, idle_time)
    for name in ("daemon", "seed_loop"):
        _, watcher = procs[name]
        watcher.done.wait(timeout=max(0.0, deadline - time.time()))
    for name, (proc, watcher) in procs.items():
        figures = _reap(proc, stop=True)
        figures["seconds"] = time.time() - started
        figures["detected_at"] = watcher.seen_at
        figures["delay"] = None if watcher.seen_at is None else watcher.seen_at - idle_from
        if name == "seed_loop":
            figures.update(_seed_phase(watcher.lines))
        else:
            scans = read_stats(scans_file(tags[name]))
            figures["scans"] = len(scans)
            figures["full_walks"] = sum(not s["stopped_early"] for s in scans)
            figures["scan_seconds"] = sum(s["seconds"] for s in scans)
            figures["scan_stats"] = scans
            figures["log_tail"] = watcher.lines[-3:]
        out[name] = figures
    shutil.rmtree(state, ignore_errors=True)
    return out


# -- 4: peak memory ------------------------------------------------------------------------------


def peak_memory(root: Path) -> dict[str, Any]:
    """Peak RSS of a full scan in a fresh interpreter, against a bare one and one that imports."""

    def probe(*args: str) -> dict[str, Any]:
        done = subprocess.run(
            [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, check=True
        )
        return dict(json.loads(done.stdout.strip().splitlines()[-1]))

    bare = probe(
        "-c",
        "import json; s = open('/proc/self/status').read(); "
        "print(json.dumps({'vmhwm_kib': int(s.split('VmHWM:')[1].split()[0])}))",
    )
    return {
        "bare_interpreter": bare,
        "imports_only": probe("-m", "bench.walks", "rss", "none", str(root)),
        "project_full_scan": probe("-m", "bench.walks", "rss", "project", str(root)),
        "seed_walk": probe("-m", "bench.walks", "rss", "seed", str(root)),
    }


# -- the table -------------------------------------------------------------------------------------


def _ws(r: list[dict[str, Any]]) -> str:
    return f"{median(r, 'wall'):.3f} / {median(r, 'cpu'):.3f}"


def _ratio_row(label: str, size: dict[str, Any]) -> str:
    """One case of the warm and cold table: find's and our median wall seconds, and the ratio."""
    warm = size["full_scan"]
    seen = warm["project"][0]["out"]
    find_w, ours_w = median(warm["find"], "wall"), median(warm["project"], "wall")
    row = (
        f"{label:>9} | {seen['files']:>9,} | {seen['dirs']:>7,} | {find_w:>9.3f} | "
        f"{ours_w:>9.3f} | {ours_w / find_w:>9.2f}x"
    )
    cold = size.get("cold_scan")
    if not cold:
        return row + f" | {'-':>9} | {'-':>9} | {'-':>10}"
    find_c, ours_c = median(cold["find"], "wall"), median(cold["project"], "wall")
    return row + f" | {find_c:>9.3f} | {ours_c:>9.3f} | {ours_c / find_c:>9.2f}x"


def render(results: dict[str, Any]) -> str:
    """The results as the plain-text tables docs/performance.md shows."""
    lines: list[str] = []
    add = lines.append
    add(f"# {results['command']}")
    m = results["machine"]
    add(
        f"# {m['cpus']} CPUs, load {m['load_at_start']} at the start, "
        f"{m.get('load_at_end', '?')} at the end, Python {m['python']}, {m['git']}"
    )
    add("")
    add("1/5. Full scan, nothing newer than t (median of the runs, and the best run)")
    cols = [
        ("find", "GNU find (6. for its flags)"),
        ("seed", "seed: os.walk + lstat"),
        ("aiofiles", "aiofiles.os.stat per file"),
        ("project", "autostop-async"),
        ("project_skip_git_ignored", "  --skip-git-ignored"),
    ]
    add(
        f"{'case':>9} | {'method':<26} | {'wall s':>7} | {'CPU s':>7} | {'best s':>7} | "
        f"{'vs find':>7} | {'best vs best':>12}"
    )
    for label, size in results["sizes"].items():
        runs = size["full_scan"]
        find_wall = median(runs["find"], "wall")
        find_best = min(r["wall"] for r in runs["find"])
        for key, title in cols:
            if key not in runs:
                continue
            wall, best = median(runs[key], "wall"), min(r["wall"] for r in runs[key])
            add(
                f"{label:>9} | {title:<26} | {wall:>7.3f} | {median(runs[key], 'cpu'):>7.3f} | "
                f"{best:>7.3f} | {wall / find_wall:>6.2f}x | {best / find_best:>11.2f}x"
            )
    add("")
    add(f"6. Full scan against GNU find ({' '.join(FIND_ARGS)!r}): median wall s, warm and cold")
    if results.get("cold_skipped"):
        add(f"   (cold-cache scans skipped: {results['cold_skipped']})")
    else:
        add(f"   cold: each run right after its own 'sync; echo 3 > {DROP_CACHES}'")
    add(
        f"{'case':>9} | {'files':>9} | {'folders':>7} | {'find warm':>9} | {'ours warm':>9} | "
        f"{'ratio warm':>10} | {'find cold':>9} | {'ours cold':>9} | {'ratio cold':>10}"
    )
    for label, size in results["sizes"].items():
        add(_ratio_row(label, size))
    add("")
    add("2. One recent change: wall s / CPU s (median), files looked at; full scan for scale")
    add(
        f"{'case':>9} | {'full scan':>15} | {'no hint':>28} | {'hot-folder hint':>28} | "
        f"{'full / hint':>11}"
    )
    for label, size in results["sizes"].items():
        e = size["early_exit"]
        full = median(size["full_scan"]["project"], "wall")
        hint = median(e["hint"], "wall")
        plain_files = e["no_hint"][0]["out"]["files"]
        hint_files = e["hint"][0]["out"]["files"]
        add(
            f"{label:>9} | {full:>15.3f} | {_ws(e['no_hint']):>17} {plain_files:>9,} f | "
            f"{_ws(e['hint']):>17} {hint_files:>9,} f | {full / hint:>10.0f}x"
        )
    mon = results.get("monitor")
    if mon:
        add("")
        add(
            f"3. Monitoring run on {mon['workspace']}: idle time {mon['idle_time']:g} s, one file "
            f"touched every {mon['touch_every']:g} s for {mon['duration']:g} s, then idle"
        )
        add(f"{'':>38} | {'CPU s':>8} | {'delay s':>8} | {'walks (full)':>12} | {'peak RSS':>9}")
        rows = [
            ("seed_loop", f"seed-style loop, full walk every {mon['seed_interval']:.3g} s"),
            ("daemon", "autostop-async (workspace + git)"),
            ("daemon_all_signals", "autostop-async, all default signals"),
        ]
        for key, title in rows:
            if key not in mon:
                continue
            r = mon[key]
            delay = "-" if r["delay"] is None else f"{r['delay']:.2f}"
            walks = "-" if key == "seed_loop" else f"{r['scans']} ({r['full_walks']})"
            rss = "-" if r["vmhwm_kib"] is None else f"{r['vmhwm_kib'] / 1024:.0f} MiB"
            add(f"{title:>38} | {r['cpu']:>8.2f} | {delay:>8} | {walks:>12} | {rss:>9}")
        ratio = mon["seed_loop"]["cpu"] / mon["daemon"]["cpu"]
        add(f"{'CPU ratio seed / daemon':>38} | {ratio:>7.0f}x")
        seed = mon["seed_loop"]
        if "expected_delay" in seed:
            add("delay: from the last touch + idle time to the decision. The loop's depends on")
            add(
                f"where that moment falls between its checks: {seed['expected_delay']:.2f} s "
                f"expected, {seed['worst_delay']:.2f} s worst ({seed['checks']} checks), and it"
            )
            add(
                f"decides on a walk begun {seed['walk_median']:.2f} s earlier. The daemon walks "
                f"after the deadline: one walk's time, nothing missed."
            )
    mem = results.get("memory")
    if mem:
        add("")
        add(f"4. Peak RSS (VmHWM), {mem['workspace']} workspace, each in a fresh interpreter")
        for key, title in (
            ("bare_interpreter", "bare interpreter"),
            ("imports_only", "imports only"),
            ("project_full_scan", "autostop-async full scan"),
            ("seed_walk", "seed-style walk"),
        ):
            r = mem[key]
            extra = f"  ({r['files']:,} files in {r['seconds']:.1f} s)" if r.get("files") else ""
            add(f"{title:>38} | {r['vmhwm_kib'] / 1024:>7.1f} MiB{extra}")
    git = results.get("git")
    if git:
        add("")
        add(
            f"git signal: {git['check_seconds'] * 1e6:.0f} us per repository check "
            f"({git['signal_call_seconds'] * 1e3:.2f} ms per signal call with its thread hop), "
            f"opening a repository {git['open_repo_seconds'] * 1e3:.1f} ms "
            f"(the first {git['first_open_repo_seconds'] * 1e3:.0f} ms: imports gitpython); "
            f"git ls-files for --skip-git-ignored ({results['git_workspace']}): "
            f"{git['ls_files']['wall']:.3f} s wall, {git['ls_files']['cpu']:.3f} s CPU, "
            f"{git['ls_files']['folders']} ignored folders"
        )
    return "\n".join(lines)


# -- main ----------------------------------------------------------------------------------------


def _tool_version(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True).stdout.splitlines()[0]
    except (OSError, IndexError):
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks named by the flags; print the table; write the JSON."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--sizes",
        default="10k,100k,1m,home-300k",
        help="workspaces: bench shape by size, home-N the home shape (10k,100k,1m,home-300k)",
    )
    p.add_argument("--reps", type=int, default=7, help="repetitions per scan (7; 3 at 1m)")
    p.add_argument("--cold-reps", type=int, default=3, help="cold-cache runs per method (3)")
    p.add_argument("--no-cold", action="store_true", help="leave out the cold-cache scans")
    p.add_argument("--monitor-size", default="100k", help="workspace of the monitoring run (100k)")
    p.add_argument("--monitor-seconds", type=float, default=120.0, help="touching phase (120)")
    p.add_argument("--idle-time", type=float, default=30.0, help="scaled idle time (30)")
    p.add_argument("--no-monitor", action="store_true", help="leave out the monitoring run")
    p.add_argument(
        "--all-signals", action="store_true", help="also run the daemon with every default signal"
    )
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON output ({DEFAULT_OUT})")
    args = p.parse_args(argv)

    cases = [Workspace.parse(s) for s in args.sizes.split(",") if s.strip()]
    monitored = Workspace.parse(args.monitor_size)
    cold_skipped = "left out (--no-cold)" if args.no_cold else drop_caches()
    if cold_skipped is not None:
        print(f"note: cold-cache scans skipped: {cold_skipped}", file=sys.stderr, flush=True)
    results: dict[str, Any] = {
        "command": "python -m bench.run " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": {
            "cpus": os.cpu_count(),
            "load_at_start": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
            "python": platform.python_version(),
            "kernel": platform.release(),
            "git": _tool_version(["git", "--version"]),
            "find": _tool_version(["find", "--version"]),
        },
        "sizes": {},
        "cold_skipped": cold_skipped,
    }
    roots = {ws: ensure_workspace(ws.files, shape=ws.shape) for ws in sorted({*cases, monitored})}
    loop = asyncio.new_event_loop()
    try:
        for ws in cases:
            n, label = ws.files, ws.label
            reps = args.reps if n < 1_000_000 else max(1, min(args.reps, 3))
            print(f"[{label}] full scans x{reps} ...", file=sys.stderr, flush=True)
            entry: dict[str, Any] = {"files": n, "shape": ws.shape, "reps": reps}
            entry["full_scan"] = full_scans(loop, roots[ws], n, reps)
            print(f"[{label}] early exit ...", file=sys.stderr, flush=True)
            entry["early_exit"] = early_exit(loop, roots[ws], reps)
            if cold_skipped is None and args.cold_reps > 0:
                print(f"[{label}] cold cache x{args.cold_reps} ...", file=sys.stderr, flush=True)
                entry["cold_scan"] = cold_scans(loop, roots[ws], args.cold_reps)
            results["sizes"][label] = entry
    finally:
        loop.close()
    bench_shaped = [ws for ws in cases if ws.shape == "bench"]
    if bench_shaped:  # the git signal's repository and the memory probe: the bench shape's
        biggest = max(bench_shaped)
        results["git_workspace"] = biggest.label
        results["git"] = git_costs(roots[biggest])
        print(f"[{biggest.label}] peak memory ...", file=sys.stderr, flush=True)
        results["memory"] = {"workspace": biggest.label, **peak_memory(roots[biggest])}
    if not args.no_monitor:
        print(
            f"[{monitored.label}] monitoring run ({args.monitor_seconds:g} s + idle) ...",
            file=sys.stderr,
            flush=True,
        )
        mon = monitoring_run(
            roots[monitored], args.idle_time, 5.0, args.monitor_seconds, args.all_signals
        )
        mon["workspace"] = monitored.label
        mon["workspace_files"] = monitored.files
        results["monitor"] = mon
    results["machine"]["load_at_end"] = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    table = render(results)
    print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    results["table"] = table
    args.out.write_text(json.dumps(results, indent=1, default=str))
    print(f"raw figures: {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
