"""Running work as activity: CPU used by other processes, and GPU utilisation.

A training job started from a terminal that was closed since writes nothing a person would call
a change for hours, yet nobody wants the app stopped under it. Two cheap signals see it:

- :class:`CpuSignal` compares two samples one interval apart. The CPU time of the app's cgroup
  (``/sys/fs/cgroup``: inside a container that is the container, i.e. the app, and never other
  containers or host agents; on a plain host it is the root, the whole machine), else the
  machine-wide ``/proc/stat``. Both also count processes that started and ended in between, such
  as the editor's port scanner's ``ps`` children. The daemon's own time (itself and its waited-for
  children) is taken off, and the rest, as a share of all cores over the interval, is compared
  with the threshold. Per-process deltas (``/proc/<pid>/stat``) name the busiest process.
- :class:`GpuSignal` asks ``nvidia-smi`` for each GPU's utilisation; without ``nvidia-smi`` it is
  off (one debug line).

Both report activity *now* while the machine is busy, and nothing once the work ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from ..activity import Activity
from .base import OnceLog, PolledSignal

__all__ = ["CpuSample", "CpuSignal", "GpuSignal", "default_cpu_threshold", "read_cpu_sample"]

log = logging.getLogger("autostop_async")

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
#: Samples closer than this (seconds of one CPU) measure too little: the previous verdict stands.
MIN_SAMPLE_CPU_SECONDS = 0.05
#: Seconds ``nvidia-smi`` has to answer.
GPU_TIMEOUT = 5.0


def default_cpu_threshold(cpus: int) -> float:
    """Half of one core, as a percentage of the whole machine (25 on 2 vCPUs, 3.1 on 16).

    An idle Code Editor uses 2-5% of one core; any real job uses a whole core (docs/reference.md,
    "What a real VS Code server does").
    """
    return 50.0 / max(1, cpus)


@dataclass(frozen=True)
class CpuSample:
    """CPU time counters (clock ticks) at one moment."""

    busy: int  # all CPUs: user, nice, system, irq, softirq (not idle, iowait, steal)
    total: int  # all CPUs, every state
    cpus: int
    own: int  # this process and its waited-for children
    processes: dict[tuple[int, int], int]  # (pid, start time) -> utime + stime
    cgroup: int | None = None  # CPU time of the cgroup, clock ticks (None: no accounting file)


#: CPU accounting of the cgroup at the root of this namespace's cgroup mount: v2, then v1.
#: Each maps a file to a parser giving nanoseconds.
CGROUP_CPU_FILES: tuple[tuple[str, Callable[[str], int]], ...] = (
    ("cpu.stat", lambda text: 1000 * int(text.split("usage_usec", 1)[1].split()[0])),
    ("cpuacct/cpuacct.usage", lambda text: int(text.split()[0])),
    ("cpu,cpuacct/cpuacct.usage", lambda text: int(text.split()[0])),
)


def find_cgroup_cpu(root: Path = Path("/sys/fs/cgroup")) -> tuple[str, Callable[[str], int]] | None:
    """The readable CPU accounting file of this container's (or the host's root) cgroup."""
    for name, parse in CGROUP_CPU_FILES:
        path = str(root / name)
        try:
            parse(_read_small(path).decode())
        except (OSError, ValueError, IndexError):
            continue
        return path, parse
    return None


def _stat_fields(text: str) -> list[str]:
    """The fields of a ``/proc/<pid>/stat`` line after the command name (field 3 onwards)."""
    return text[text.rindex(")") + 2 :].split()


def _read_small(path: str) -> bytes:
    """A small file of /proc in one read (no buffering, no Path: this runs per process)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.read(fd, 4096)
    finally:
        os.close(fd)


def read_cpu_sample(
    proc: Path = Path("/proc"),
    *,
    only: Iterable[int] | None = None,
    own_pid: int | None = None,
    cgroup: tuple[str, Callable[[str], int]] | None = None,
) -> CpuSample:
    """Read the machine's, the cgroup's, our own and each process's CPU time (``only``: just
    these pids)."""
    root = str(proc)
    cgroup_ticks = None
    if cgroup is not None:
        try:
            cgroup_ticks = cgroup[1](_read_small(cgroup[0]).decode()) * CLOCK_TICKS // 10**9
        except (OSError, ValueError, IndexError):
            cgroup_ticks = None
    lines = _read_small(f"{root}/stat").decode().splitlines()
    values = [int(v) for v in lines[0].split()[1:]]
    busy = values[0] + values[1] + values[2] + sum(values[5:7])
    total = sum(values[:8])
    cpus = sum(1 for line in lines[1:] if line.startswith("cpu"))
    own_pid = os.getpid() if own_pid is None else own_pid
    fields = _stat_fields(_read_small(f"{root}/{own_pid}/stat").decode())
    own = sum(int(v) for v in fields[11:15])  # utime, stime, cutime, cstime
    pids = [str(p) for p in only] if only is not None else os.listdir(root)
    skip = str(own_pid)
    processes = {}
    for pid in pids:
        if not pid.isdigit() or pid == skip:
            continue
        try:
            raw = _read_small(f"{root}/{pid}/stat")
            # After the ")" ending the name: state is field 3; utime 14, stime 15, starttime 22.
            rest = raw[raw.rindex(b")") + 2 :].split(maxsplit=20)
            processes[(int(pid), int(rest[19]))] = int(rest[11]) + int(rest[12])
        except (OSError, ValueError, IndexError):  # ended meanwhile
            continue
    return CpuSample(busy, total, max(1, cpus), own, processes, cgroup_ticks)


def describe_process(pid: int, proc: Path = Path("/proc"), limit: int = 80) -> str:
    """``pid 1234 python train.py``: the command line (program without its folder), shortened,
    on one line; or the name in brackets (kernel threads)."""
    try:
        raw = (proc / str(pid) / "cmdline").read_bytes()
        args = [a.decode("utf-8", "replace") for a in raw.split(b"\0") if a]
        if args:
            args[0] = os.path.basename(args[0])
        command = " ".join(" ".join(args).split())
        if not command:
            command = "[" + (proc / str(pid) / "comm").read_text().strip() + "]"
    except OSError:
        command = "(ended)"
    if len(command) > limit:
        command = command[: limit - 1] + "…"
    return f"pid {pid} {command}"


class CpuSignal(PolledSignal):
    """CPU used by other processes over the last interval, as a share of the machine."""

    name = "cpu"

    def __init__(
        self,
        threshold: float | None = None,
        *,
        proc: Path = Path("/proc"),
        only: Callable[[], Iterable[int]] | None = None,
        warmup: float = 0.0,
        clock: Callable[[], float] = time.time,
        cgroup_root: Path | None = Path("/sys/fs/cgroup"),
    ) -> None:
        """``threshold``: percent of the machine (None: half a core). ``only``: count just these
        processes instead of the whole machine (a process tree; tests use it on a busy host).
        ``warmup``: seconds the first poll measures over (``--once``); 0: it only takes a sample.
        ``cgroup_root``: where the cgroup accounting is mounted (None: use ``/proc/stat`` only).
        """
        self.proc = proc
        self.cgroup = find_cgroup_cpu(cgroup_root) if cgroup_root is not None else None
        log.debug("CPU use measured from %s", self.cgroup[0] if self.cgroup else f"{proc}/stat")
        self.only = only
        self.warmup = warmup
        self.clock = clock
        self._previous: CpuSample | None = None
        self._verdict: Activity | None = None
        #: The share measured last, in percent of the machine (None before two samples).
        self.share: float | None = None
        try:
            cpus = read_cpu_sample(proc, only=[]).cpus
        except OSError:  # no /proc: every poll will say why
            cpus = os.cpu_count() or 1
        self.threshold = default_cpu_threshold(cpus) if threshold is None else threshold

    def measure(self) -> Activity | None:
        """Take a sample; busy since the previous one: an activity now, naming the busiest."""
        sample = read_cpu_sample(
            self.proc, only=self.only() if self.only is not None else None, cgroup=self.cgroup
        )
        before, self._previous = self._previous, sample
        if before is None:
            return None
        elapsed_total = sample.total - before.total
        if elapsed_total < MIN_SAMPLE_CPU_SECONDS * CLOCK_TICKS * sample.cpus:
            self._previous = before  # too short to tell: keep the longer baseline
            return self._verdict
        deltas = {
            key: ticks - before.processes.get(key, 0)  # new since: all of its time is recent
            for key, ticks in sample.processes.items()
        }
        if self.only is not None:
            used = sum(deltas.values())
        elif sample.cgroup is not None and before.cgroup is not None:
            used = (sample.cgroup - before.cgroup) - (sample.own - before.own)
        else:
            used = (sample.busy - before.busy) - (sample.own - before.own)
        share = 100.0 * max(0, used) / elapsed_total
        self.share = share
        if share <= self.threshold:
            self._verdict = None
            return None
        busiest = max(deltas.items(), key=lambda kv: kv[1], default=None)
        if busiest is not None and busiest[1] > 0:
            core = 100.0 * busiest[1] * sample.cpus / elapsed_total
            who = f"{describe_process(busiest[0][0], self.proc)}: {core:.0f}% of a core"
        else:
            who = "short-lived processes"
        self._verdict = Activity(
            self.clock(), f"busy:cpu {share:.0f}% of {sample.cpus} CPUs ({who})"
        )
        return self._verdict

    async def sample(self) -> Activity | None:
        """Busy since the last poll: activity now (``warmup``: the first poll measures over
        that long)."""
        if self._previous is None and self.warmup > 0:
            self.measure()
            await asyncio.sleep(self.warmup)
        return self.measure()


class GpuSignal(PolledSignal):
    """GPU utilisation from ``nvidia-smi``; off where there is none."""

    name = "gpu"

    def __init__(
        self,
        threshold: float = 10.0,
        *,
        command: str = "nvidia-smi",
        timeout: float = GPU_TIMEOUT,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.threshold = threshold
        self.command = command
        self.timeout = timeout
        self.clock = clock
        self._exe: str | None = None
        self._looked = False
        self._once = OnceLog(log)

    async def _run(self, *args: str) -> list[str] | None:
        """The output lines of ``nvidia-smi args``, or None (logged once) when it fails."""
        assert self._exe is not None
        try:
            child = await asyncio.create_subprocess_exec(
                self._exe,
                *args,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,  # so a hung one is killed with all it started
            )
        except OSError as exc:
            self._once("exec", logging.WARNING, "cannot run %s: %s", self._exe, exc)
            return None
        try:
            out, err = await asyncio.wait_for(child.communicate(), self.timeout)
        except (asyncio.TimeoutError, asyncio.CancelledError) as exc:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.pid, signal.SIGKILL)
            if isinstance(exc, asyncio.CancelledError):  # the daemon is stopping
                raise
            await child.wait()
            self._once(
                "timeout",
                logging.WARNING,
                "%s did not answer within %gs; GPU use unknown",
                self._exe,
                self.timeout,
            )
            return None
        if child.returncode != 0:
            first = (err or out).decode("utf-8", "replace").strip().splitlines()[:1]
            self._once(
                "rc",
                logging.WARNING,
                "%s failed (exit %s): %s",
                self._exe,
                child.returncode,
                first[0] if first else "no message",
            )
            return None
        return [line.strip() for line in out.decode("utf-8", "replace").splitlines() if line]

    async def utilisation(self) -> list[float] | None:
        """Each GPU's utilisation in percent, or None when it cannot be known."""
        if not self._looked:
            self._looked = True
            self._exe = shutil.which(self.command)
            if self._exe is None:
                self.note = f"off: no {self.command}"
                log.debug("no %s on PATH: the GPU signal is off", self.command)
        if self._exe is None:
            return None
        lines = await self._run("--query-gpu=utilization.gpu", "--format=csv,noheader,nounits")
        if lines is None:
            return None
        values = []
        for line in lines:
            try:
                values.append(float(line.removesuffix("%").strip()))
            except ValueError:  # "[N/A]" on GPUs that do not report it
                if "N/A" not in line:
                    self._once(
                        "parse",
                        logging.WARNING,
                        "%s answered %r, not a percentage",
                        self._exe,
                        line,
                    )
        return values

    async def sample(self) -> Activity | None:
        """A GPU busier than the threshold: activity now, naming its first process."""
        values = await self.utilisation()
        if not values:
            return None
        index, top = max(enumerate(values), key=lambda iv: iv[1])
        if top <= self.threshold:
            return None
        apps = await self._run("--query-compute-apps=pid,process_name", "--format=csv,noheader")
        who = f"GPU {index}"
        if apps:  # "4242, python": the first process on a GPU
            pid, _, name = apps[0].partition(",")
            who += f"; pid {pid.strip()} {name.strip()}".rstrip()
        return Activity(self.clock(), f"busy:gpu {top:.0f}% ({who})")
