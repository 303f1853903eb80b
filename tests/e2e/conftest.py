"""Fixtures for the end-to-end tests: the container engine, the images (built once), containers.

The images are built once per test run, also under pytest-xdist (the first worker builds, the
others wait on a lock); the one with a real editor only when an editor test runs.
``AUTOSTOP_E2E_NO_BUILD=1`` uses the images as they are (``nox -s e2e`` builds them first). A
missing container engine is an error, not a skip: CI installs one.

Scenarios may record timings (:func:`record_timing`); the run ends with a table of them.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .sim import IMAGE, LAYOUT_IMAGES, Engine, Sim, build_image, detect_engine

TIMINGS = "e2e-timings.jsonl"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Remember each phase's outcome on the item, so fixtures can tell a failed test."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Engine:
    """The container engine, with the simulated instance image built (once per run)."""
    found = detect_engine()
    if os.environ.get("AUTOSTOP_E2E_NO_BUILD") == "1":
        found("image", "inspect", *LAYOUT_IMAGES.values())
        return found
    _once(tmp_path_factory, worker_id, "image", lambda: build_image(found))
    return found


@pytest.fixture(scope="session")
def editor_engine(
    engine: Engine, tmp_path_factory: pytest.TempPathFactory, worker_id: str
) -> Engine:
    """The container engine, with the image holding a real editor built too (once per run)."""
    from .editor import EDITOR_IMAGE, build_editor_image

    if os.environ.get("AUTOSTOP_E2E_NO_BUILD") == "1":
        engine("image", "inspect", EDITOR_IMAGE)
    else:
        _once(tmp_path_factory, worker_id, "editor-image", lambda: build_editor_image(engine))
    return engine


def _shared_dir(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """A folder common to all xdist workers of this run (the run's own without xdist)."""
    base = tmp_path_factory.getbasetemp()
    return base if worker_id == "master" else base.parent


def _once(
    tmp_path_factory: pytest.TempPathFactory, worker_id: str, what: str, do: Callable[[], object]
) -> None:
    """Run ``do`` once per test run, whichever worker comes first; the others wait for it."""
    if worker_id == "master":
        do()
        return
    shared = _shared_dir(tmp_path_factory, worker_id)
    with open(shared / f"{what}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        marker = shared / f"{what}.built"
        if not marker.exists():
            do()
            marker.write_text(IMAGE)


#: Instances starting at once in the whole run: the container, its endpoints and the LCC's install
#: (with a real editor also code-server and the browser) take 20 s and more of CPU each; on 2
#: shared cores, more at once only makes each slower (an LCC was seen taking 143 s) and starves
#: the timed phases of the tests already running.
STARTS = int(os.environ.get("AUTOSTOP_E2E_STARTS", "3"))
_held = 0  # slots this process holds (one test at a time per process; nested use is free)


@pytest.fixture
def start_slot(
    tmp_path_factory: pytest.TempPathFactory, worker_id: str
) -> Callable[[], contextlib.AbstractContextManager[None]]:
    """``with start_slot(): ...``: at most STARTS of these at once in the run (re-entrant)."""
    shared = _shared_dir(tmp_path_factory, worker_id)

    @contextlib.contextmanager
    def slot() -> Iterator[None]:
        global _held
        if _held:
            _held += 1
            try:
                yield
            finally:
                _held -= 1
            return
        lock = None
        while lock is None:
            for n in range(STARTS):
                f = open(shared / f"start-{n}.lock", "w")  # noqa: SIM115 (held below)
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    f.close()
                    continue
                lock = f
                break
            else:
                time.sleep(0.5)
        _held = 1
        try:
            yield
        finally:
            _held = 0
            lock.close()

    return slot


@pytest.fixture
def record_timing(
    tmp_path_factory: pytest.TempPathFactory, worker_id: str, request: pytest.FixtureRequest
) -> Callable[..., None]:
    """``record_timing(what, seconds, **details)``: printed in the run's summary."""

    def record(what: str, seconds: float, **details: object) -> None:
        line = {"test": request.node.name, "what": what, "seconds": round(seconds, 1), **details}
        print(f"E2E TIMING {json.dumps(line)}")
        with open(_shared_dir(tmp_path_factory, worker_id) / TIMINGS, "a") as f:
            f.write(json.dumps(line) + "\n")

    return record


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    """The recorded timings, one line each."""
    factory = getattr(config, "_tmp_path_factory", None)
    if factory is None or hasattr(config, "workerinput"):
        return
    path = factory.getbasetemp() / TIMINGS
    if not path.exists():
        return
    terminalreporter.section("e2e timings (seconds)")
    for raw in path.read_text().splitlines():
        line = json.loads(raw)
        extra = {k: v for k, v in line.items() if k not in ("test", "what", "seconds")}
        terminalreporter.write_line(
            f"{line['seconds']:7.1f}  {line['test']}: {line['what']}  {json.dumps(extra)}"
        )


@pytest.fixture(scope="session")
def worker_id(request: pytest.FixtureRequest) -> str:
    """pytest-xdist's worker id, or "master" without xdist (overridden by xdist's own fixture)."""
    workerinput = getattr(request.config, "workerinput", None)
    return str(workerinput["workerid"]) if workerinput else "master"


@pytest.fixture
def start_sim(
    engine: Engine,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    start_slot: Callable[[], contextlib.AbstractContextManager[None]],
) -> Iterator[Callable[..., Sim]]:
    """Start simulated instances: ``start_sim(network=None, *, image=IMAGE, publish=(), **env)``;
    removed after the test. It returns once the LCC ended (or, with SIM_RUN_LCC=0, the endpoints
    are up), a few at a time in the whole run (``start_slot``).

    On failure the test's report gets each container's log files and process list.
    """
    started: list[Sim] = []
    base = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40]

    def start(
        network: str | None = None,
        *,
        image: str = IMAGE,
        publish: tuple[int, ...] = (),
        **env: str,
    ) -> Sim:
        name = f"autostop-e2e-{base}-{os.getpid()}-{len(started)}"
        logs = tmp_path / f"logs-{len(started)}"
        sim = Sim(
            engine, name, env=dict(env), network=network, logs=logs, image=image, publish=publish
        )
        started.append(sim)
        with start_slot():
            sim.start()
            done = ("ready",) if env.get("SIM_RUN_LCC") == "0" else ("lcc.rc",)
            deadline = time.monotonic() + 300
            while not any((logs / "sim" / f).exists() for f in done):
                if time.monotonic() > deadline:
                    break  # the test's own wait says what is missing
                time.sleep(0.5)
        return sim

    yield start
    failed = getattr(request.node, "rep_call", None)
    for sim in started:
        if failed is not None and failed.failed:
            print(sim.diagnostics())
        sim.remove()
