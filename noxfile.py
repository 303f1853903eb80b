"""Sessions: plain ``nox`` runs lint, typecheck, tests, faults and e2e; bench runs on demand."""

from __future__ import annotations

import os
import shutil
import subprocess

import nox

nox.options.sessions = ["lint", "typecheck", "tests", "faults", "e2e"]
nox.options.error_on_missing_interpreters = True

LINT_PATHS = ["autostop_async", "tests", "bench", "noxfile.py"]


@nox.session
def lint(session: nox.Session) -> None:
    """ruff: lint rules and formatting."""
    session.install("ruff")
    session.run("ruff", "check", *LINT_PATHS)
    session.run("ruff", "format", "--check", *LINT_PATHS)


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the package."""
    session.install("-e", ".", "mypy", "types-aiofiles")
    session.run("mypy")


@nox.session
def tests(session: nox.Session) -> None:
    """Unit and integration tests (the daemon as a subprocess against moto's server); the
    fault-injection suite has its own session."""
    session.install("-e", ".[test]")
    session.run("pytest", "-q", "-ra", "-m", "not faults", *session.posargs)


@nox.session
def faults(session: nox.Session) -> None:
    """The fault-injection suite (docs/faults.md): bad settings, hostile names, wrong values in the
    daemon's files, own files seen through symlinks; the daemon as a user would meet it."""
    session.install("-e", ".[test]")
    session.run("pytest", "tests/faults", "-m", "faults", "-q", "-ra", *session.posargs)


#: What the e2e session needs on the host besides a container engine (the test says which).
E2E_HOST_TOOLS = ("debootstrap", "shellcheck", "chromium", "rg", "node", "npm", "g++", "make")
NO_ENGINE = (
    "no container engine answers (tried `docker info`, `podman info`): run "
    "scripts/ensure-container-engine.sh as root (installs docker.io, starts dockerd)"
)


def _answers(*cmd: str) -> bool:
    """The command exists and exits 0 within 30 s."""
    if shutil.which(cmd[0]) is None:
        return False
    try:
        return subprocess.run(cmd, capture_output=True, timeout=30, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _may_install() -> bool:
    """Root, or passwordless sudo: the session may install what the e2e tests need."""
    return os.geteuid() == 0 or _answers("sudo", "-n", "true")


def _ensure_host(session: nox.Session) -> None:
    """A container engine that answers and the host tools of the e2e suite.

    When something is missing and the session may install (root or passwordless sudo), it runs
    scripts/ensure-container-engine.sh (idempotent); with no engine and no such right, it stops
    with one line saying what to run.
    """
    engine = _answers("docker", "info") or _answers(
        "podman", "--runtime", "runc", "--cgroup-manager", "cgroupfs", "info"
    )
    missing = [tool for tool in E2E_HOST_TOOLS if shutil.which(tool) is None]
    if engine and not missing:
        return
    if not _may_install():
        if not engine:
            session.error(NO_ENGINE)
        session.warn(f"missing {', '.join(missing)}: scripts/ensure-container-engine.sh installs")
        return
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    session.log("installing what the e2e suite needs: scripts/ensure-container-engine.sh")
    session.run(*sudo, "bash", "scripts/ensure-container-engine.sh", external=True)


@nox.session
def e2e(session: nox.Session) -> None:
    """End to end: simulated Code Editor instances (docker/Dockerfile.sim) running
    lcc/on-start.sh, judged through moto; a real editor (code-server) driven by Chromium.

    Needs a container engine that answers; as root (or with passwordless sudo) it runs
    scripts/ensure-container-engine.sh itself when the engine or a host tool is missing. Builds
    its images first (base image with debootstrap when none exists; code-server from npm, cached
    in docker/.cache), then runs the tests. ``-- -k NAME`` etc. go to pytest.
    """
    _ensure_host(session)
    # The package and its test extras: the report page's test runs the report against the fake
    # endpoint, and the LCC's static checks read the package's installed dependencies.
    session.install("-e", ".[test]", "pytest-xdist", "playwright")
    env = {"DOCKER_BUILDKIT": "0"}
    session.run("python", "-m", "tests.e2e.sim", "build", "--editor", env=env)
    # A base folder of its own: pytest keeps only the 3 newest numbered ones under /tmp, and on a
    # shared machine other runs would remove this one (the containers' log mounts) meanwhile.
    basetemp = os.path.join(session.create_tmp(), "pytest")
    session.run(
        "pytest",
        "tests/e2e",
        "-m",
        "e2e",
        "-n",
        "8",
        "-ra",
        "--durations=0",
        f"--basetemp={basetemp}",
        *session.posargs,
        env={**env, "AUTOSTOP_E2E_NO_BUILD": "1"},
    )


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks (bench/run.py): full scans warm and cold, early exit, monitoring, peak memory.

    Workspaces of 10k, 100k and 1M files and a home-shaped one (home-300k) are generated once
    under bench/.workspaces (the 1M one takes 1 to 7 minutes and 500 MB). Cold-cache scans need
    root (they drop the page cache); elsewhere they are skipped with a note. Quick run:
    ``nox -s bench -- --sizes 10k,100k --no-cold``.
    Writes bench/out/results.json; ``-- --all-signals`` adds the daemon with every signal.
    """
    session.install("-e", ".")
    session.run("python", "-m", "bench.run", *session.posargs)
