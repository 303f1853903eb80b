"""Sessions: plain ``nox`` runs lint, typecheck, tests, faults and e2e; bench runs on demand."""

from __future__ import annotations

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
    """The fault-injection suite (issue 9): bad settings, hostile names, wrong values in the
    daemon's files, own files seen through symlinks; the daemon as a user would meet it."""
    session.install("-e", ".[test]")
    session.run("pytest", "tests/faults", "-m", "faults", "-q", "-ra", *session.posargs)


@nox.session
def e2e(session: nox.Session) -> None:
    """End to end: build docker/Dockerfile.sim, run lcc/on-start.sh in containers, check via moto.

    Needs a container engine that answers (scripts/ensure-container-engine.sh installs and
    starts dockerd); builds its base image with debootstrap when none exists.
    """
    session.install("pytest", "pytest-asyncio", "pytest-xdist")
    session.run(
        "pytest",
        "tests/e2e",
        "-m",
        "e2e",
        "-n",
        "6",
        "-ra",
        "--durations=0",
        *session.posargs,
        env={"DOCKER_BUILDKIT": "0"},
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
