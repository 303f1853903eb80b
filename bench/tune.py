"""How the walk's two knobs behave here: batch size and worker threads (forced, warm cache).

``python -m bench.tune --size 100k`` prints wall and CPU seconds of a full scan for each pair,
interleaved and repeated, so that the defaults in ``autostop_async/changes.py`` rest on figures.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import statistics
import time
from pathlib import Path
from typing import Any

from autostop_async.changes import WorkspaceScanner, _Batch
from bench.generate import ensure_workspace, parse_size
from bench.run import measure
from bench.walks import find_walk


class ForcedWorkers(WorkspaceScanner):
    """A scanner that uses all its workers from the first batch on, whatever the disk does."""

    def _waits_on_disk(self, batch: _Batch) -> bool:
        return True


def main() -> None:
    """Sweep batch sizes and worker counts; print medians; write bench/out/tune.json."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--size", default="100k")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--batches", default="1024,8192,65536")
    p.add_argument("--workers", default="1,2,4")
    args = p.parse_args()
    root = ensure_workspace(parse_size(args.size))
    loop = asyncio.new_event_loop()
    threshold = time.time()
    pairs = list(
        itertools.product(
            [int(w) for w in args.workers.split(",")], [int(b) for b in args.batches.split(",")]
        )
    )
    runs: dict[str, list[dict[str, Any]]] = {"find": []}
    for w, b in pairs:
        runs[f"{w}x{b}"] = []
    find_walk(str(root))
    for _ in range(args.reps):
        runs["find"].append(measure(lambda: find_walk(str(root))))
        for w, b in pairs:
            scanner = ForcedWorkers([root], concurrency=w, batch_entries=b)

            def scan(s: WorkspaceScanner = scanner) -> int:
                return loop.run_until_complete(s.scan(threshold)).stats.files

            runs[f"{w}x{b}"].append(measure(scan))
            scanner.close()
    loop.close()
    find_wall = statistics.median(r["wall"] for r in runs["find"])
    print(f"{'workers x batch':>16} | {'wall s':>7} | {'CPU s':>7} | vs find")
    for name, rs in runs.items():
        wall = statistics.median(r["wall"] for r in rs)
        cpu = statistics.median(r["cpu"] for r in rs)
        print(f"{name:>16} | {wall:>7.3f} | {cpu:>7.3f} | {wall / find_wall:.2f}x")
    out = Path(__file__).resolve().parent / "out" / "tune.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"size": args.size, "runs": runs}, indent=1, default=str))


if __name__ == "__main__":
    main()
