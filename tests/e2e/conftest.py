"""Fixtures for the end-to-end tests: the container engine, the image (built once), containers.

The image is built once per test run, also under pytest-xdist (the first worker builds, the
others wait on a lock). ``AUTOSTOP_E2E_NO_BUILD=1`` uses the image as it is. A missing container
engine is an error, not a skip: CI installs one.
"""

from __future__ import annotations

import fcntl
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .sim import IMAGE, Engine, Sim, build_image, detect_engine


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
        found("image", "inspect", IMAGE)
        return found
    if worker_id == "master":
        return build_image(found)
    shared = tmp_path_factory.getbasetemp().parent  # common to all xdist workers of this run
    with open(shared / "image.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        marker = shared / "image.built"
        if not marker.exists():
            build_image(found)
            marker.write_text(IMAGE)
    return found


@pytest.fixture(scope="session")
def worker_id(request: pytest.FixtureRequest) -> str:
    """pytest-xdist's worker id, or "master" without xdist (overridden by xdist's own fixture)."""
    workerinput = getattr(request.config, "workerinput", None)
    return str(workerinput["workerid"]) if workerinput else "master"


@pytest.fixture
def start_sim(
    engine: Engine, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[..., Sim]]:
    """Start simulated instances: ``start_sim(network=None, **env)``; removed after the test.

    On failure the test's report gets each container's log files and process list.
    """
    started: list[Sim] = []
    base = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40]

    def start(network: str | None = None, **env: str) -> Sim:
        name = f"autostop-e2e-{base}-{os.getpid()}-{len(started)}"
        logs = tmp_path / f"logs-{len(started)}"
        sim = Sim(engine, name, env=dict(env), network=network, logs=logs)
        started.append(sim)
        return sim.start()

    yield start
    failed = getattr(request.node, "rep_call", None)
    for sim in started:
        if failed is not None and failed.failed:
            print(sim.diagnostics())
        sim.remove()
