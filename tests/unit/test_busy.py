"""Busy work, from a real busy child process and a fake ``nvidia-smi`` on PATH."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from autostop_async.activity import Activity
from autostop_async.config import load_config
from autostop_async.errors import ConfigError
from autostop_async.signals.busy import CpuSignal, GpuSignal, default_cpu_threshold, read_cpu_sample


@pytest.fixture
def spinner(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A training job stand-in, ``python train.py``: one core fully busy (for at most a minute)."""
    script = tmp_path / "train.py"
    script.write_text("import time\nend = time.time() + 60\nwhile time.time() < end:\n    pass\n")
    # Run from its folder: the source names the command line, cut short when it is long (the
    # temporary folders of parallel test workers are).
    child = subprocess.Popen([sys.executable, "train.py"], cwd=tmp_path)
    yield child
    child.kill()
    child.wait()


async def poll(sig: CpuSignal | GpuSignal, want_busy: bool, bound: float = 20.0) -> Activity | None:
    """Poll every 0.3 s until the signal says busy (or idle), within ``bound`` seconds."""
    deadline = time.monotonic() + bound
    while True:
        found = await sig.newer_than(0)
        if (found is not None) == want_busy or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.3)


def test_the_default_threshold_is_half_a_core() -> None:
    assert default_cpu_threshold(2) == 25.0
    assert default_cpu_threshold(16) == pytest.approx(3.125)
    assert default_cpu_threshold(1) == 50.0


def test_a_sample_reads_the_machine_and_each_process() -> None:
    sample = read_cpu_sample()
    assert sample.cpus == os.cpu_count()
    assert sample.total > sample.busy > 0
    assert os.getpid() not in {pid for pid, _ in sample.processes}  # ourselves: counted apart
    assert 1 in {pid for pid, _ in sample.processes}


async def test_a_busy_process_is_activity_until_it_ends(spinner: subprocess.Popen[bytes]) -> None:
    # Only the child counts, so other work on this machine cannot blur the verdict; the
    # threshold is low (2% of the machine) so that a child starved by a loaded host still counts.
    sig = CpuSignal(2.0, only=lambda: [spinner.pid])
    assert await sig.newer_than(0) is None  # the first poll only takes a sample
    found = await poll(sig, want_busy=True)
    assert found is not None
    assert found.source.startswith("busy:cpu ")
    assert f"pid {spinner.pid} python" in found.source and "train.py: " in found.source
    assert found.at == pytest.approx(time.time(), abs=5)
    spinner.kill()
    spinner.wait()
    assert await poll(sig, want_busy=False) is None
    assert sig.latest == found  # status still shows when it was last busy


async def test_the_whole_machine_counts_a_busy_process(spinner: subprocess.Popen[bytes]) -> None:
    """The one test on the real machine's accounting: it holds under load, as it only asks
    that a busy child IS seen (other work can only add to it), never that the host is idle."""
    threshold = default_cpu_threshold(os.cpu_count() or 1) / 2  # a quarter of a core
    sig = CpuSignal(threshold)  # one busy core is at least four times that
    await sig.newer_than(0)
    found = await poll(sig, want_busy=True)
    assert found is not None and sig.share is not None and sig.share > threshold
    assert f"of {os.cpu_count()} CPUs" in found.source
    spinner.kill()
    spinner.wait()
    await asyncio.sleep(0.3)
    await sig.newer_than(0)  # a sample after the end: the ended job is never named again
    later = await sig.newer_than(0)
    assert later is None or f"pid {spinner.pid} " not in later.source


async def test_the_daemons_own_cpu_does_not_count() -> None:
    sig = CpuSignal(1.0, only=lambda: [os.getpid()])
    await sig.newer_than(0)
    end = time.time() + 0.5
    while time.time() < end:  # the daemon itself walking a big workspace
        pass
    assert await sig.newer_than(0) is None


async def test_once_measures_over_a_short_warmup(spinner: subprocess.Popen[bytes]) -> None:
    found = await CpuSignal(2.0, only=lambda: [spinner.pid], warmup=0.5).newer_than(0)
    assert found is not None and f"pid {spinner.pid} " in found.source


async def test_an_idle_process_is_not_busy() -> None:
    sleeper = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import time; time.sleep(30)"
    )
    try:
        sig = CpuSignal(5.0, only=lambda: [sleeper.pid])
        await sig.newer_than(0)
        await asyncio.sleep(1.0)
        assert await sig.newer_than(0) is None
        assert sig.share is not None and sig.share < 5.0
    finally:
        sleeper.kill()
        await sleeper.wait()


# -- GPU ------------------------------------------------------------------------------------


@pytest.fixture
def fake_smi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake ``nvidia-smi`` on PATH; it prints the files ``util`` and ``apps`` of ``tmp_path``."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "nvidia-smi"
    script.write_text(
        "#!/bin/sh\n"
        f'dir="{tmp_path}"\n'
        '[ -f "$dir/sleep" ] && sleep "$(cat "$dir/sleep")"\n'
        '[ -f "$dir/fail" ] && { echo "NVIDIA-SMI has failed" >&2; exit 9; }\n'
        'case "$1" in\n'
        '  --query-gpu=utilization.gpu) cat "$dir/util" ;;\n'
        '  --query-compute-apps=*) cat "$dir/apps" 2>/dev/null ;;\n'
        "esac\n"
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return tmp_path


async def test_a_busy_gpu_is_activity_naming_the_process(fake_smi: Path) -> None:
    (fake_smi / "util").write_text("3\n87\n")
    (fake_smi / "apps").write_text("4242, python\n")
    found = await GpuSignal(10.0).newer_than(0)
    assert found is not None
    assert found.source == "busy:gpu 87% (GPU 1; pid 4242 python)"
    assert found.at == pytest.approx(time.time(), abs=5)


async def test_an_idle_gpu_is_not(fake_smi: Path) -> None:
    (fake_smi / "util").write_text("0\n[N/A]\n")
    sig = GpuSignal(10.0)
    assert await sig.newer_than(0) is None
    (fake_smi / "util").write_text("55\n")
    assert await sig.newer_than(0) is not None  # work started
    (fake_smi / "util").write_text("0\n")
    assert await sig.newer_than(0) is None  # and ended


async def test_without_nvidia_smi_the_gpu_signal_is_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    sig = GpuSignal(10.0)
    with caplog.at_level(logging.DEBUG, logger="autostop_async"):
        assert await sig.newer_than(0) is None
        assert await sig.newer_than(0) is None
    assert sig.note == "off: no nvidia-smi"
    assert [r.levelno for r in caplog.records] == [logging.DEBUG]


async def test_a_failing_nvidia_smi_is_logged_once(
    fake_smi: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (fake_smi / "fail").write_text("")
    sig = GpuSignal(10.0)
    assert await sig.newer_than(0) is None
    assert await sig.newer_than(0) is None
    failed = [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]
    assert len(failed) == 1 and "exit 9" in failed[0] and "NVIDIA-SMI has failed" in failed[0]


async def test_garbage_from_nvidia_smi_is_logged_once(
    fake_smi: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (fake_smi / "util").write_text("lots\n")
    sig = GpuSignal(10.0)
    assert await sig.newer_than(0) is None
    assert await sig.newer_than(0) is None
    assert len([r for r in caplog.records if "not a percentage" in r.getMessage()]) == 1


async def test_a_hanging_nvidia_smi_times_out(fake_smi: Path) -> None:
    (fake_smi / "util").write_text("90\n")
    (fake_smi / "sleep").write_text("10")
    started = time.monotonic()
    assert await GpuSignal(10.0, timeout=0.5).newer_than(0) is None
    assert time.monotonic() - started < 5


def test_busy_settings_from_flags_and_environment() -> None:
    config = load_config([], {})
    assert (config.busy, config.busy_cpu, config.busy_gpu) == (True, None, 10.0)
    config = load_config(["--busy-cpu", "20%", "--busy-gpu", "5"], {"AUTOSTOP_BUSY": "0"})
    assert (config.busy, config.busy_cpu, config.busy_gpu) == (False, 20.0, 5.0)
    assert load_config(["--busy"], {"AUTOSTOP_BUSY": "0"}).busy is True  # the flag wins
    with pytest.raises(ConfigError, match="--busy-cpu='150' must be above 0 and at most 100"):
        load_config(["--busy-cpu", "150"], {})
    with pytest.raises(ConfigError, match="AUTOSTOP_BUSY_GPU='lots' is not a percentage"):
        load_config([], {"AUTOSTOP_BUSY_GPU": "lots"})


@pytest.mark.parametrize(
    ("name", "before", "after"),
    [
        ("cpu.stat", "usage_usec 1000000\nuser_usec 1\n", "usage_usec {}\nuser_usec 1\n"),
        ("cpuacct/cpuacct.usage", "1000000000\n", "{}\n"),
    ],
)
async def test_a_containers_cgroup_is_measured_not_the_whole_host(
    tmp_path: Path, name: str, before: str, after: str
) -> None:
    """Inside a container the cgroup's accounting is the app: other containers do not count."""
    account = tmp_path / name
    account.parent.mkdir(parents=True, exist_ok=True)
    account.write_text(before)
    sig = CpuSignal(10.0, cgroup_root=tmp_path)
    assert sig.cgroup is not None
    assert sig.cgroup[0] == str(account)
    assert await sig.newer_than(0) is None  # first sample
    # Nothing used in the cgroup: idle, however busy the host is.
    found = await poll(sig, want_busy=True, bound=1.0)
    assert found is None
    assert sig.share == 0.0
    # The cgroup used far more than the elapsed time allows: busy.
    big = 10**12 if name == "cpu.stat" else 10**15
    account.write_text(after.format(big))
    found = await poll(sig, want_busy=True, bound=5.0)
    assert found is not None
    assert found.source.startswith("busy:cpu ")


def test_without_cgroup_accounting_the_machine_is_measured(tmp_path: Path) -> None:
    assert CpuSignal(10.0, cgroup_root=tmp_path).cgroup is None


def write_fake_proc(proc: Path, *, idle: int, busy: int, own: int, job: int, cpus: int = 2) -> None:
    """A /proc the test owns: the machine's counters, our own process and one job (pid 4242)."""
    proc.mkdir(exist_ok=True)
    per_cpu = "".join(f"cpu{i} 0 0 0 0 0 0 0 0 0 0\n" for i in range(cpus))
    (proc / "stat").write_text(f"cpu  {busy} 0 0 {idle} 0 0 0 0 0 0\n{per_cpu}btime 1\n")
    for pid, ticks in ((os.getpid(), own), (4242, job)):
        (proc / str(pid)).mkdir(exist_ok=True)
        fields = ["S"] + ["0"] * 10 + [str(ticks), "0", "0", "0"] + ["0"] * 4 + ["77"] + ["0"] * 5
        (proc / str(pid) / "stat").write_text(f"{pid} (python) " + " ".join(fields) + "\n")
    (proc / "4242" / "cmdline").write_bytes(b"/usr/bin/python\0train.py\0")


async def test_cpu_share_from_accounting_the_test_owns(tmp_path: Path) -> None:
    """Deterministic, whatever the host does: the machine's counters come from a /proc the test
    writes, the app's from a cgroup folder the test writes; the share is exact."""
    from autostop_async.signals.busy import CLOCK_TICKS

    proc, cgroup = tmp_path / "proc", tmp_path / "cgroup"
    cgroup.mkdir()

    def cgroup_ticks(ticks: int) -> None:
        (cgroup / "cpu.stat").write_text(f"usage_usec {ticks * 10**6 // CLOCK_TICKS}\n")

    write_fake_proc(proc, idle=1000, busy=0, own=0, job=0)
    cgroup_ticks(0)
    sig = CpuSignal(25.0, proc=proc, cgroup_root=cgroup)
    assert await sig.newer_than(0) is None  # the first poll only takes a sample
    # One second on 2 CPUs (200 ticks): the cgroup used 60 of them, the job all of those.
    write_fake_proc(proc, idle=1140, busy=60, own=0, job=60)
    cgroup_ticks(60)
    found = await sig.newer_than(0)
    assert sig.share == pytest.approx(30.0)
    assert found is not None and found.source == (
        "busy:cpu 30% of 2 CPUs (pid 4242 python train.py: 60% of a core)"
    )
    # The next second the host is fully busy, but not the app's cgroup: idle.
    write_fake_proc(proc, idle=1140, busy=260, own=0, job=60)
    cgroup_ticks(70)
    assert await sig.newer_than(0) is None
    assert sig.share == pytest.approx(5.0)
    # The daemon's own work inside the cgroup is not the app's: 60 ticks, all of them ours.
    write_fake_proc(proc, idle=1200, busy=400, own=60, job=60)
    cgroup_ticks(130)
    assert await sig.newer_than(0) is None
    assert sig.share == pytest.approx(0.0)
