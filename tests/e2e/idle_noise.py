"""Measure what an idle instance writes in the home folder (docs/idle-noise.md).

``python -m tests.e2e.idle_noise CONNECTED_MINUTES IDLE_MINUTES OUT.json`` starts the simulated
instance with a real editor (code-server, as the editor tests do; no daemon), opens the home
folder in headless Chromium, opens a file and a terminal and runs one command there (what a person
does), leaves the browser connected for CONNECTED_MINUTES, closes it, and waits IDLE_MINUTES. Every
SNAPSHOT seconds it lists, as root, each path under the home folder whose change time (what the
workspace walk counts) moved since the last listing. OUT.json holds every listing; the summary
printed at the end gives, per path, the phase and the number of listings it appeared in.

A tool, not a test: run by hand (about CONNECTED + IDLE minutes), after
``python -m tests.e2e.sim build --editor``.
"""

from __future__ import annotations

import collections
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .editor import EDITOR_IMAGE, EDITOR_PORT, Browser
from .sim import HOME, Sim, detect_engine

SNAPSHOT = 30.0  # seconds between two listings
MARK = "/tmp/autostop-noise-mark"
#: Touch a new mark, list what changed since the old one, make the new one the mark.
LIST = (
    f"touch {MARK}.new && find {HOME} -cnewer {MARK} -printf '%C@ %y %p\\n' 2>/dev/null; "
    f"mv {MARK}.new {MARK}"
)


def snapshot(sim: Sim, phase: str, started: float) -> dict[str, Any]:
    out = sim.sh(LIST, user="root", timeout=120)
    changed = []
    for line in out.splitlines():
        at, kind, path = line.split(" ", 2)
        changed.append({"ctime": float(at), "type": kind, "path": path})
    return {
        "phase": phase,
        "at": time.time(),
        "minute": (time.time() - started) / 60,
        "changed": changed,
    }


def watch(sim: Sim, phase: str, minutes: float, started: float, out: list[dict[str, Any]]) -> None:
    end = time.monotonic() + minutes * 60
    while time.monotonic() < end:
        time.sleep(min(SNAPSHOT, max(0.0, end - time.monotonic())))
        snap = snapshot(sim, phase, started)
        out.append(snap)
        names = sorted({c["path"] for c in snap["changed"]})
        print(f"[{snap['minute']:6.1f} min {phase}] {len(names)} changed: {names[:8]}", flush=True)


def main(argv: list[str]) -> int:
    connected, idle, dest = float(argv[0]), float(argv[1]), Path(argv[2])
    engine = detect_engine()
    logs = Path(tempfile.mkdtemp(prefix="autostop-noise-"))
    sim = Sim(
        engine,
        "autostop-noise-measure",
        env={
            "SIM_RUN_LCC": "0",
            "SIM_EDITOR_SETTINGS": json.dumps({"workbench.startupEditor": "none"}),
        },
        logs=logs,
        image=EDITOR_IMAGE,
        publish=(EDITOR_PORT,),
    )
    sim.start()
    snaps: list[dict[str, Any]] = []
    browser = None
    try:
        sim.wait_for("the instance", lambda: (logs / "sim" / "ready").exists(), 300)
        sim.sh(f"printf 'notes\\n' >{HOME}/notes.txt")
        sim.sh(f"touch {MARK}", user="root")
        started = time.time()
        browser = Browser()
        browser.open_editor(f"http://127.0.0.1:{sim.host_port(EDITOR_PORT)}/?folder={HOME}")
        browser.open_file("notes.txt")
        browser.open_terminal()
        browser.run_in_terminal("ls")
        snaps.append(snapshot(sim, "person", started))  # what the person's actions wrote
        watch(sim, "connected", connected, started, snaps)
        browser.close()
        watch(sim, "idle", idle, started, snaps)
    finally:
        if browser is not None:
            browser.close()
        dest.write_text(json.dumps(snaps, indent=1))
        sim.remove()
    summary: dict[tuple[str, str], int] = collections.Counter()
    for snap in snaps:
        for path in {c["path"] for c in snap["changed"]}:
            summary[(snap["phase"], path)] += 1
    counts = collections.Counter(s["phase"] for s in snaps)
    for (phase, path), n in sorted(summary.items()):
        print(f"{phase:9} {n:3}/{counts[phase]:3} listings  {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
