"""The simulated Code Editor instance: container engine, image build, and one container's handle.

``python -m tests.e2e.sim build`` builds the image (``nox -s e2e`` lets the test session do it):

1. a local base image when none exists (``docker/make-base-image.sh``: debootstrap, import);
2. wheels on the host, for the image's Python and machine: the package and its dependencies
   into ``docker/wheels/app`` (the wheelhouse), moto and boto3 into ``docker/wheels/sim``;
3. ``docker build`` of ``docker/Dockerfile.sim`` from a small staged context (no network),
   twice: the editor data laid out as on current images (``IMAGE``) and as before SageMaker
   Distribution 2.3 (``LEGACY_IMAGE``, the build argument ``LAYOUT=legacy``; every layer but
   the last is shared).

``python -m tests.e2e.sim build --editor`` also builds the image with a real editor
(tests/e2e/editor.py).

Docker is used when ``docker info`` answers, else podman with the settings that work on these
machines. ``AUTOSTOP_E2E_ENGINE=docker|podman`` forces one.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

REPO = Path(__file__).resolve().parents[2]
IMAGE = os.environ.get("AUTOSTOP_E2E_IMAGE", "autostop-sim")
LEGACY_IMAGE = f"{IMAGE}-legacy"
BASE_IMAGE = os.environ.get("AUTOSTOP_E2E_BASE", "autostop-sim-base")
WHEELS = REPO / "docker" / "wheels"
CONTEXT = REPO / "docker" / ".context"
#: What the fake SageMaker endpoint needs in the image (kept in step with pyproject's test extra).
SIM_REQUIREMENTS = ("moto[server]==5.2.5", "boto3<=1.40.61")
#: Binary wheels for these platform tags work on Debian bookworm's glibc (2.36).
MANYLINUX = ("manylinux2014", "manylinux_2_28", "manylinux_2_34")
#: Files of the repository the image is built from, at the same paths in the staged context.
CONTEXT_FILES = (
    "docker/Dockerfile.sim",
    "docker/sim/entrypoint.sh",
    "docker/sim/creds_server.py",
    "docker/sim/fake-editor.sh",
    "tests/support/fake_sagemaker.py",
    "lcc/on-start.sh",
)

# The app the image's metadata file names and the fake endpoint is seeded with.
DOMAIN_ID = "d-sim0000000001"
SPACE_NAME = "sim-space"
APP_ARN = (
    f"arn:aws:sagemaker:us-east-1:123456789012:app/{DOMAIN_ID}/{SPACE_NAME}/codeeditor/default"
)
LOG = "/var/log/apps/app_container.log"
STATE_DIR = "/var/tmp/autostop-async"
HOME = "/home/sagemaker-user"
LOG_MOUNTS = ("apps", "sim")  # folders under /var/log that can be bind mounts of host folders
#: The editor's server data folder, by layout: SageMaker Distribution 2.3 and later ("current"),
#: and before ("legacy"). Its data/User holds History and Backups.
SERVER_DATA = {
    "current": f"{HOME}/sagemaker-code-editor-server-data",
    "legacy": "/opt/amazon/sagemaker/sagemaker-code-editor-server-data",
}
LAYOUT_IMAGES = {"current": IMAGE, "legacy": LEGACY_IMAGE}
#: The lock file the editor's extension host touches every second (docker/sim/fake-editor.sh).
EDITOR_LOCK = "data/User/workspaceStorage/5b4a3a2c1d0e9f8a7b6c5d4e3f2a1b0c/vscode.lock"

T = TypeVar("T")


class EngineError(RuntimeError):
    """No container engine answers, or a command of it failed."""


def _log(message: str) -> None:
    print(f"[e2e {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Engine:
    """A container engine command line: ``docker``, or ``podman`` with its global options."""

    name: str
    argv: tuple[str, ...]
    run_options: tuple[str, ...] = ()

    def __call__(
        self,
        *args: str,
        check: bool = True,
        timeout: float = 120,
        input: str | None = None,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run an engine command; a failure with ``check`` raises EngineError with its output."""
        cmd = [*self.argv, *args]
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
            env=None if env is None else {**os.environ, **env},
            check=False,
        )
        if check and proc.returncode != 0:
            raise EngineError(
                f"{shlex.join(cmd)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
            )
        return proc


def _answers(cmd: Sequence[str]) -> bool:
    try:
        return subprocess.run(cmd, capture_output=True, timeout=30, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def detect_engine() -> Engine:
    """Docker if its daemon answers, else podman; EngineError (not a skip) when neither works."""
    forced = os.environ.get("AUTOSTOP_E2E_ENGINE", "")
    podman = Engine(
        "podman",
        ("podman", "--runtime", "runc", "--cgroup-manager", "cgroupfs", "--events-backend", "file"),
        ("--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768"),
    )
    if forced not in ("", "docker", "podman"):
        raise EngineError(f"AUTOSTOP_E2E_ENGINE={forced!r}: use docker or podman")
    if forced in ("", "docker") and shutil.which("docker") and _answers(["docker", "info"]):
        return Engine("docker", ("docker",))
    if forced in ("", "podman") and shutil.which("podman") and _answers([*podman.argv, "info"]):
        return podman
    raise EngineError(
        "no container engine answers (tried `docker info`"
        + (", `podman info`" if forced != "docker" else "")
        + "): run scripts/ensure-container-engine.sh as root (installs docker.io, starts dockerd)"
    )


# --------------------------------------------------------------------------------------------
# Building the image
# --------------------------------------------------------------------------------------------


def ensure_base_image(engine: Engine) -> None:
    """Make the debootstrapped base image unless the engine already has it (it is cached)."""
    if engine("image", "inspect", BASE_IMAGE, check=False).returncode == 0:
        return
    _log(f"making base image {BASE_IMAGE} (debootstrap, about a minute)")
    subprocess.run(
        [str(REPO / "docker" / "make-base-image.sh"), BASE_IMAGE],
        env={**os.environ, "ENGINE": engine.argv[0]},
        check=True,
    )


def image_python(engine: Engine) -> tuple[str, str]:
    """The base image's Python version (``"311"``) and machine (``"x86_64"``)."""
    code = "import platform, sys; v = sys.version_info; print(f'{v[0]}{v[1]}', platform.machine())"
    out = engine(
        "run", "--rm", *engine.run_options, "--network", "none", BASE_IMAGE, "python3", "-c", code
    ).stdout
    version, machine = out.split()
    return version, machine


def _pip(python: str, *args: str, env: dict[str, str] | None = None) -> None:
    subprocess.run(
        [python, "-m", "pip", "--disable-pip-version-check", *args],
        check=True,
        env=None if env is None else {**os.environ, **env},
    )


def _requires(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        lines = zf.read(name).decode().splitlines()
    return sorted(line for line in lines if line.startswith("Requires-Dist:"))


def build_wheels(engine: Engine, python: str = sys.executable) -> Path:
    """Wheels for the image's Python: ours, its dependencies, the fake's. Returns our wheel."""
    version, machine = image_python(engine)
    app, sim = WHEELS / "app", WHEELS / "sim"
    app.mkdir(parents=True, exist_ok=True)
    sim.mkdir(parents=True, exist_ok=True)
    for old in app.glob("autostop_async-*.whl"):
        old.unlink()
    # Fixed dates inside: the same sources give the same wheel, so the image layers that hold
    # it (and the editor image on top) stay cached until the package changes.
    _pip(
        python,
        "wheel",
        "--quiet",
        "--no-deps",
        "--wheel-dir",
        str(app),
        str(REPO),
        env={"SOURCE_DATE_EPOCH": "315532800"},
    )
    (wheel,) = app.glob("autostop_async-*.whl")
    target = [
        "--only-binary=:all:",
        "--python-version",
        version,
        "--implementation",
        "cp",
        "--abi",
        f"cp{version}",
        *(f"--platform={tag}_{machine}" for tag in MANYLINUX),
    ]
    stamp = WHEELS / ".stamp"
    key = hashlib.sha256(
        json.dumps([version, machine, _requires(wheel), SIM_REQUIREMENTS]).encode()
    ).hexdigest()
    if not stamp.exists() or stamp.read_text() != key:
        _log(f"downloading dependency wheels for cp{version} {machine}")
        _pip(python, "download", "--quiet", *target, "--dest", str(app), str(wheel))
        _pip(python, "download", "--quiet", *target, "--dest", str(sim), *SIM_REQUIREMENTS)
        stamp.write_text(key)
    return wheel


def stage_context() -> Path:
    """A build context holding only what the Dockerfile copies (not .venv, .nox, .git)."""
    shutil.rmtree(CONTEXT, ignore_errors=True)
    for rel in CONTEXT_FILES:
        dest = CONTEXT / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, dest)
    shutil.copytree(WHEELS / "app", CONTEXT / "docker/wheels/app")
    shutil.copytree(WHEELS / "sim", CONTEXT / "docker/wheels/sim")
    return CONTEXT


def build_image(engine: Engine | None = None) -> Engine:
    """Base image if missing, wheels, then the simulated instance image. Returns the engine."""
    engine = engine or detect_engine()
    started = time.monotonic()
    ensure_base_image(engine)
    build_wheels(engine)
    context = stage_context()
    for layout, image in LAYOUT_IMAGES.items():
        _log(f"building {image} (editor data: {layout} layout) with {engine.name}")
        engine(
            "build",
            *(engine.run_options if engine.name == "podman" else ()),
            "--build-arg",
            f"BASE={BASE_IMAGE}",
            "--build-arg",
            f"LAYOUT={layout}",
            "--tag",
            image,
            "--file",
            str(context / "docker/Dockerfile.sim"),
            str(context),
            timeout=900,
            env={"DOCKER_BUILDKIT": "0"},
        )
    _log(f"images {', '.join(LAYOUT_IMAGES.values())} ready in {time.monotonic() - started:.0f}s")
    return engine


# --------------------------------------------------------------------------------------------
# One container
# --------------------------------------------------------------------------------------------


class Timeout(AssertionError):
    """A polled condition did not come true in time; the message carries the container's logs."""


@dataclass
class Sim:
    """A running simulated instance; ``exec``/``sh`` run inside it, ``fake`` calls the endpoint."""

    engine: Engine
    name: str
    env: dict[str, str] = field(default_factory=dict)
    network: str | None = None
    logs: Path | None = None
    started_at: float = 0.0
    image: str = IMAGE
    publish: tuple[int, ...] = ()

    def start(self) -> Sim:
        """``run -d`` the image; the entrypoint starts the endpoints, the editor, then the LCC.

        With ``logs`` (a host folder), /var/log/apps and /var/log/sim are bind mounts of its
        ``apps`` and ``sim`` folders, so polling them costs no ``exec``. Each port in
        ``publish`` is published on a free port of the host's 127.0.0.1 (:meth:`host_port`).
        """
        self.engine("rm", "-f", self.name, check=False)
        args = ["run", "-d", "--name", self.name, *self.engine.run_options]
        if self.logs is not None:
            for sub in LOG_MOUNTS:
                (self.logs / sub).mkdir(parents=True, exist_ok=True)
                (self.logs / sub).chmod(0o755)  # like the image: root's, others read
                args += ["--volume", f"{self.logs / sub}:/var/log/{sub}"]
        if self.network:
            args += ["--network", self.network]
        for port in self.publish:
            args += ["--publish", f"127.0.0.1::{port}"]
        for key, value in self.env.items():
            args += ["--env", f"{key}={value}"]
        self.started_at = time.time()
        self.engine(*args, self.image)
        return self

    def host_port(self, port: int) -> int:
        """The host port (on 127.0.0.1) a published container port is reachable at."""
        out = self.engine("port", self.name, f"{port}/tcp").stdout
        return int(out.split()[0].rsplit(":", 1)[1])

    def remove(self) -> None:
        """Remove the container, whatever its state."""
        self.engine("rm", "-f", self.name, check=False, timeout=60)

    def exec(
        self, *cmd: str, user: str = "sagemaker-user", check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run a command in the container (as sagemaker-user unless told)."""
        env = ["--env", f"HOME={HOME}"] if user == "sagemaker-user" else []
        return self.engine(
            "exec", "--user", user, *env, self.name, *cmd, check=check, timeout=timeout
        )

    def sh(self, script: str, *, user: str = "sagemaker-user", timeout: float = 60) -> str:
        """Run a bash script in the container and return its stdout (failure raises)."""
        return self.exec("bash", "-c", script, user=user, timeout=timeout).stdout

    def read(self, path: str) -> str:
        """A file's text ('' if it does not exist)."""
        if self.logs is not None:
            for sub in LOG_MOUNTS:
                prefix = f"/var/log/{sub}/"
                if path.startswith(prefix):
                    try:
                        return (self.logs / sub / path[len(prefix) :]).read_text(errors="replace")
                    except FileNotFoundError:
                        return ""
        return self.exec("cat", path, user="root", check=False).stdout

    def log(self) -> str:
        """The CloudWatch log file, where the LCC, the supervisor and the daemon write."""
        return self.read(LOG)

    def fake(self, method: str, path: str, body: Any = None) -> Any:
        """Call the fake SageMaker endpoint's control API inside the container."""
        cmd = ["curl", "-fsS", "-X", method, f"http://127.0.0.1:5000{path}"]
        if body is not None:
            cmd += ["-H", "Content-Type: application/json", "--data", json.dumps(body)]
        out = self.exec(*cmd, user="root").stdout
        return json.loads(out) if out.strip() else None

    def app_status(self) -> str:
        """Status of this instance's app in the fake endpoint (``"missing"`` if not listed)."""
        for app in self.fake("GET", "/_fake/apps"):
            if app.get("DomainId") == DOMAIN_ID and app.get("SpaceName") == SPACE_NAME:
                return str(app.get("Status"))
        return "missing"

    def calls(self, operation: str) -> list[dict[str, Any]]:
        """The recorded calls of one SageMaker operation."""
        return [c for c in self.fake("GET", "/_fake/calls") if c.get("operation") == operation]

    def creds_stats(self) -> dict[str, Any]:
        """What the credentials endpoint handed out, and when."""
        out = self.exec("curl", "-fsS", "http://127.0.0.1:8111/_stats", user="root").stdout
        return dict(json.loads(out))

    def pids(self, pattern: str) -> list[int]:
        """Pids of processes whose command line matches ``pattern`` (pgrep -f)."""
        out = self.exec("pgrep", "-f", pattern, user="root", check=False).stdout
        return [int(p) for p in out.split()]

    def daemon_pids(self) -> list[int]:
        """Pids of running daemons (``python -m autostop_async``)."""
        return self.pids("bin/python -m autostop_async")

    def supervisor_pids(self) -> list[int]:
        """Pids of running supervisors."""
        return self.pids("autostop-async/supervise.sh")

    def diagnostics(self) -> str:
        """Everything useful for a failure message."""
        parts = [f"--- container {self.name} env {self.env}"]
        for path in (LOG, "/var/log/sim/lcc.out", "/var/log/sim/lcc.rc"):
            parts.append(f"--- {path}\n{self.read(path)}")
        for path in ("/var/log/sim/fake.log", "/var/log/sim/editor.log"):
            parts.append(f"--- tail of {path}\n{self.read(path)[-3000:]}")
        ps = self.exec("ps", "-eo", "pid,ppid,user,etime,args", user="root", check=False).stdout
        parts.append(f"--- ps\n{ps}")
        return "\n".join(parts)

    def wait_for(
        self, what: str, probe: Callable[[], T | None], timeout: float, every: float = 1.0
    ) -> T:
        """Poll ``probe`` until it returns something truthy; Timeout with diagnostics if not."""
        deadline = time.monotonic() + timeout
        while True:
            value = probe()
            if value:
                return value
            if time.monotonic() > deadline:
                raise Timeout(f"{what}: not within {timeout:.0f}s\n{self.diagnostics()}")
            time.sleep(every)

    def wait_lcc(self, timeout: float = 240) -> tuple[int, float]:
        """Wait for the entrypoint's LCC run to end; its exit code and duration in seconds."""
        text = self.wait_for(
            "the LCC to finish", lambda: self.read("/var/log/sim/lcc.rc"), timeout, every=0.5
        )
        rc, seconds = text.split()
        return int(rc), float(seconds)

    def wait_gone(self, timeout: float) -> float:
        """Wait until the app is Deleting or Deleted; the time it was seen so (epoch)."""
        self.wait_for(
            "the app to be deleted",
            lambda: self.app_status() in ("Deleting", "Deleted"),
            timeout,
        )
        return time.time()

    def wait_log(self, phrase: str, timeout: float, count: int = 1) -> str:
        """Wait until ``phrase`` is in the log ``count`` times; returns the log."""
        return self.wait_for(
            f"{count} x {phrase!r} in {LOG}",
            lambda: log if (log := self.log()).count(phrase) >= count else None,
            timeout,
            every=0.5,
        )


def main(argv: list[str]) -> int:
    """``python -m tests.e2e.sim build [--editor]``: build the images (for nox, or by hand)."""
    if argv not in (["build"], ["build", "--editor"]):
        print("usage: python -m tests.e2e.sim build [--editor]", file=sys.stderr)
        return 2
    if "--editor" not in argv:
        build_image()
        return 0
    from .editor import build_editor_image, ensure_code_server

    # code-server's npm install (network, a compile) runs while the base image is debootstrapped.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        npm = pool.submit(ensure_code_server)
        engine = build_image()
        npm.result()
    build_editor_image(engine)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
