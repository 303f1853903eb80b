"""Settings: defaults, ``AUTOSTOP_*`` environment variables and command-line flags, validated.

Every flag ``--some-name`` can also be given as ``AUTOSTOP_SOME_NAME``; a flag wins over the
environment. Invalid values raise :class:`ConfigError`, whose message names the setting, so the
command line can print one line and exit 2.
"""

from __future__ import annotations

import argparse
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

__all__ = [
    "DEFAULT_HOME",
    "DEFAULT_METADATA_FILE",
    "DEFAULT_STATE_DIR",
    "Config",
    "ConfigError",
    "build_parser",
    "format_duration",
    "load_config",
    "parse_duration",
    "parse_settings",
    "subcommand_parser",
]

#: The user's home folder: the space's volume, watched by default.
DEFAULT_HOME = Path("/home/sagemaker-user")
DEFAULT_METADATA_FILE = Path("/opt/ml/metadata/resource-metadata.json")
DEFAULT_STATE_DIR = Path("/var/tmp/autostop-async")
#: Code Editor's idle endpoint and the file its idle extension writes (see REFERENCE.md).
DEFAULT_EDITOR_IDLE_URL = "http://localhost:8888/api/idle"
DEFAULT_EDITOR_IDLE_FILE = Path("/tmp/.sagemaker-last-active-timestamp")
DEFAULT_TERMINALS_DIR = Path("/dev/pts")
#: Where this container's cgroup (its CPU accounting) is mounted.
DEFAULT_CGROUP_DIR = Path("/sys/fs/cgroup")
NOTICE_FILE_NAME = "autostop-async-notice.txt"
DEFAULT_NOTICE_FILE = DEFAULT_HOME / NOTICE_FILE_NAME
#: The heartbeat file of Code Editor builds 1.1.2, 1.3.1-1.3.3 and 1.4.0, in the home folder.
HOME_EDITOR_IDLE_FILE_NAME = ".sagemaker-last-active-timestamp"
ENV_PREFIX = "AUTOSTOP_"

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
#: The longest idle time, keepalive or warning: 365 days, the longest idle timeout SageMaker's
#: own idle shutdown accepts (``IdleTimeoutInMinutes`` at most 525,600). Anything longer is a
#: typo (``1e12``), and times that far ahead cannot be printed as dates.
MAX_DURATION = 365 * 86400.0
#: The longest poll interval: one day. The interval is how often the cheap signals (editor,
#: terminals, CPU, GPU, keepalive) are looked at and the first retry of a failed DeleteApp;
#: rarer than daily, they would see nothing a person could wait for.
MAX_INTERVAL = 86400.0
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")


class ConfigError(ValueError):
    """A setting has an invalid value; the message names the setting and says what is accepted."""


def parse_duration(text: str) -> float:
    """Parse ``3600``, ``90m``, ``2h``, ``1h30m``, ``45s`` or ``1.5h`` into seconds.

    Raises ValueError with a short reason when the text is not a duration.
    """
    s = text.strip().lower()
    if not s:
        raise ValueError("empty duration")
    try:
        seconds = float(s)
    except ValueError:
        pass
    else:  # float() also reads nan, inf and 1e400 (infinite): none of them is a duration
        if not math.isfinite(seconds):
            raise ValueError(f"{text!r} is not a finite duration")
        return seconds
    pos = 0
    total = 0.0
    for match in _DURATION_PART.finditer(s):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(s):
        raise ValueError(f"{text!r} is not a duration (use seconds like 3600, or 90m, 2h, 1h30m)")
    if not math.isfinite(total):  # 400 digits of hours
        raise ValueError(f"{text!r} is not a finite duration")
    return total


def format_duration(seconds: float) -> str:
    """Format seconds as ``1h02m03s`` (``-`` sign for negatives, days folded into hours)."""
    sign = "-" if seconds < 0 else ""
    total = round(abs(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{sign}{hours}h{minutes:02d}m{secs:02d}s"


@dataclass(frozen=True)
class Config:
    """Everything the daemon needs to know, fixed for its lifetime."""

    idle_time: float = 3600.0
    #: The folders to watch; None: the home folder, and the editor's History and Backups
    #: wherever the editor keeps them (editor_layout.py).
    watch: tuple[Path, ...] | None = None
    home: Path = DEFAULT_HOME
    #: Code Editor's --server-data-dir; None: asked of the running editor, else looked for.
    editor_server_data_dir: Path | None = None
    exclude: tuple[str, ...] = ()
    interval: float = 60.0
    once: bool = False
    dry_run: bool = False
    json: bool = False
    metadata_file: Path = DEFAULT_METADATA_FILE
    state_dir: Path = DEFAULT_STATE_DIR
    region: str | None = None
    endpoint_url: str | None = None
    log_file: Path | None = None
    concurrency: int = 4
    #: Leave out the folders git repositories ignore (node_modules, .venv, build output).
    skip_git_ignored: bool = False
    # More signs of use (editor.py, terminals.py, busy.py) and the user's controls.
    editor: bool = True
    editor_idle_url: str = DEFAULT_EDITOR_IDLE_URL
    editor_idle_file: Path = DEFAULT_EDITOR_IDLE_FILE
    terminals: bool = True
    terminals_dir: Path = DEFAULT_TERMINALS_DIR
    busy: bool = True
    #: Percent of the whole machine's CPU; None: half of one core's share (25 on 2 vCPUs).
    busy_cpu: float | None = None
    busy_gpu: float = 10.0
    #: The cgroup folder whose CPU accounting is the app's; without one, /proc/stat is used.
    busy_cgroup_dir: Path = DEFAULT_CGROUP_DIR
    max_keepalive: float = 12 * 3600.0
    warn_before: float = 300.0
    #: Where the warning is written for people who are not in a terminal; None: nowhere.
    notice_file: Path | None = DEFAULT_NOTICE_FILE

    @property
    def watch_roots(self) -> tuple[Path, ...]:
        """The folders given to watch, or the home folder by default."""
        return self.watch if self.watch is not None else (self.home,)

    @property
    def watch_editor_folders(self) -> bool:
        """Whether the editor's History and Backups are watch roots too (the default)."""
        return self.watch is None

    @property
    def editor_idle_files(self) -> tuple[Path, ...]:
        """The heartbeat files read when the endpoint does not answer: the setting's, and the
        home folder's that some Code Editor builds wrote instead."""
        home_file = self.home / HOME_EDITOR_IDLE_FILE_NAME
        if home_file == self.editor_idle_file:
            return (self.editor_idle_file,)
        return (self.editor_idle_file, home_file)

    @property
    def state_file(self) -> Path:
        """The JSON file where the daemon keeps its clock between runs."""
        return self.state_dir / "state.json"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for ``python -m autostop_async`` (all defaults come from Config/env)."""
    p = argparse.ArgumentParser(
        prog="autostop-async",
        description=(
            "Delete this SageMaker Code Editor app once nothing has happened for IDLE_TIME. "
            "Every flag can also be set as AUTOSTOP_<NAME> in the environment; flags win."
        ),
        epilog=(
            "For users: `autostop-async status [--json]` shows what the daemon sees and when it "
            "will stop the app; `autostop-async keepalive 2h` postpones the stop "
            "(`keepalive --cancel` ends that). Both take the daemon's --state-dir if it is not "
            "the default."
        ),
    )
    # Defaults are None so that "not given" can fall back to the environment, then to Config.
    p.add_argument("--once", action="store_true", default=None, help="check once and exit")
    p.add_argument(
        "--dry-run",
        action="store_true",
        default=None,
        help="never call DeleteApp; say what would be done (works without a metadata file)",
    )
    p.add_argument("--json", action="store_true", default=None, help="with --once: print JSON")
    p.add_argument(
        "--idle-time", metavar="DURATION", help="idle time before deletion: 3600, 90m, 2h (1h)"
    )
    p.add_argument(
        "--watch",
        metavar="PATH",
        action="append",
        help="folder to watch (repeatable; default: the home folder and the editor's "
        "History and Backups folders, wherever the editor keeps them)",
    )
    p.add_argument(
        "--home",
        metavar="PATH",
        help=f"the user's home folder: watched by default, holds the notice file ({DEFAULT_HOME})",
    )
    p.add_argument(
        "--editor-server-data-dir",
        metavar="PATH",
        help="Code Editor's --server-data-dir (default: asked of the running editor, else "
        "~/sagemaker-code-editor-server-data or the pre-2.3 location); only its "
        "data/User/History and data/User/Backups count as activity",
    )
    p.add_argument(
        "--exclude",
        metavar="GLOB",
        action="append",
        help="glob of paths or names not to count (repeatable), e.g. '*.log', '*/.cache'",
    )
    p.add_argument("--interval", metavar="DURATION", help="how often cheap signals are polled (60)")
    p.add_argument("--metadata-file", metavar="PATH", help="the app's resource metadata JSON")
    p.add_argument("--state-dir", metavar="PATH", help="where the daemon keeps its state")
    p.add_argument("--region", metavar="REGION", help="AWS region (default: from the app ARN)")
    p.add_argument("--endpoint-url", metavar="URL", help="SageMaker endpoint (for emulators)")
    p.add_argument("--log-file", metavar="PATH", help="append log lines here instead of stderr")
    p.add_argument(
        "--skip-git-ignored",
        action="store_true",
        default=None,
        help="do not walk folders a git repository's ignore rules exclude (node_modules, .venv, "
        "build output); off by default, as a job writing into an ignored folder is activity",
    )
    _add_signal_arguments(p)
    return p


def _add_signal_arguments(p: argparse.ArgumentParser) -> None:
    """Flags of the editor, terminal and busy-work signals, keepalive and the warning."""
    g = p.add_argument_group("signs of use (each on by default)")
    on_off = argparse.BooleanOptionalAction
    g.add_argument("--editor", action=on_off, help="count Code Editor's idle heartbeat (on)")
    g.add_argument(
        "--editor-idle-url", metavar="URL", help=f"editor idle endpoint ({DEFAULT_EDITOR_IDLE_URL})"
    )
    g.add_argument(
        "--editor-idle-file",
        metavar="PATH",
        help=f"editor heartbeat file, read when the endpoint does not answer "
        f"({DEFAULT_EDITOR_IDLE_FILE})",
    )
    g.add_argument("--terminals", action=on_off, help="count terminal activity (on)")
    g.add_argument(
        "--terminals-dir",
        metavar="PATH",
        help=f"folder of terminal devices ({DEFAULT_TERMINALS_DIR})",
    )
    g.add_argument("--busy", action=on_off, help="count running work: CPU and GPU use (on)")
    g.add_argument(
        "--busy-cpu",
        metavar="PERCENT",
        help="share of the whole machine's CPU used by other processes above which it is busy "
        "(default: half a core, i.e. 25 on 2 vCPUs)",
    )
    g.add_argument(
        "--busy-gpu", metavar="PERCENT", help="GPU utilisation above which it is busy (10)"
    )
    g.add_argument(
        "--busy-cgroup-dir",
        metavar="PATH",
        help=f"cgroup folder whose CPU accounting (cpu.stat or cpuacct.usage) is the app's; "
        f"without one there, the whole machine's /proc/stat ({DEFAULT_CGROUP_DIR})",
    )
    c = p.add_argument_group("controls")
    c.add_argument(
        "--max-keepalive",
        metavar="DURATION",
        help="longest postponement `keepalive` may ask for; 0 disables keepalive (12h)",
    )
    c.add_argument(
        "--warn-before",
        metavar="DURATION",
        help="warn terminals and the notice file this long before stopping; 0: never (5m)",
    )
    c.add_argument(
        "--notice-file",
        metavar="PATH",
        help=f"file the warning is written to; empty: none ({DEFAULT_NOTICE_FILE})",
    )


def _percent_setting(name: str, value: str) -> float:
    text = value.strip().removesuffix("%").strip()
    try:
        percent = float(text)
    except ValueError:
        percent = math.nan
    if not math.isfinite(percent):
        raise ConfigError(f"{name}={value!r} is not a percentage (use a number like 20)")
    if not 0 < percent <= 100:
        raise ConfigError(f"{name}={value!r} must be above 0 and at most 100")
    return percent


def _signal_settings(pick: Callable[[str], tuple[str, object] | None]) -> dict[str, object]:
    """Config keyword arguments for the signals and controls that were set."""
    kwargs: dict[str, object] = {}
    for flag in ("editor", "terminals", "busy"):
        if (got := pick(flag)) is not None:
            name, value = got
            kwargs[flag] = value if isinstance(value, bool) else _truthy(name, str(value))
    if (got := pick("editor-idle-url")) is not None:
        kwargs["editor_idle_url"] = _url_setting(
            got[0], str(got[1]), ("http",), "must be a plain http:// URL (the local editor)"
        )
    for flag in ("editor-idle-file", "terminals-dir", "busy-cgroup-dir"):
        if (got := pick(flag)) is not None:
            if not str(got[1]).strip():
                raise ConfigError(f"{got[0]} is empty: give a path")
            kwargs[flag.replace("-", "_")] = Path(str(got[1])).expanduser()
    if (got := pick("notice-file")) is not None:
        text = str(got[1]).strip()
        kwargs["notice_file"] = Path(text).expanduser() if text else None
    for flag in ("busy-cpu", "busy-gpu"):
        if (got := pick(flag)) is not None:
            kwargs[flag.replace("-", "_")] = _percent_setting(got[0], str(got[1]))
    for flag in ("max-keepalive", "warn-before"):
        if (got := pick(flag)) is not None:
            kwargs[flag.replace("-", "_")] = _duration_setting(
                got[0], str(got[1]), minimum=0.0, maximum=MAX_DURATION
            )
    return kwargs


def _env_name(flag: str) -> str:
    return ENV_PREFIX + flag.upper().replace("-", "_")


def _truthy(name: str, value: str) -> bool:
    v = value.strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("", "0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}={value!r} is not a boolean (use 1/0, true/false)")


def _duration_setting(name: str, value: str, *, minimum: float, maximum: float) -> float:
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise ConfigError(f"{name}: {exc}") from None
    if seconds < minimum:
        raise ConfigError(f"{name}={value!r} must be at least {minimum:g} seconds")
    if seconds > maximum:
        days = maximum / 86400
        most = "1 day" if days == 1 else f"{days:g} days"
        raise ConfigError(f"{name}={value!r} must be at most {most} ({maximum:g} seconds)")
    return seconds


def _url_setting(name: str, value: str, schemes: tuple[str, ...], rule: str) -> str:
    """A URL with one of ``schemes``, a host, and a port (if any) from 1 to 65535."""
    url = value.strip()
    if any(c.isspace() or not c.isprintable() for c in url):
        raise ConfigError(f"{name}={url!r} must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError for a port out of 0-65535 or not a number
    except ValueError as exc:
        raise ConfigError(f"{name}={url!r} is not a valid URL: {exc}") from None
    if parts.scheme.lower() not in schemes or not parts.hostname:
        raise ConfigError(f"{name}={url!r} {rule}")
    if port is not None and not 1 <= port <= 65535:
        raise ConfigError(f"{name}={url!r}: port {port} is out of range 1-65535")
    return url


def load_config(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> Config:
    """Build a validated Config from flags (``argv``) and ``AUTOSTOP_*`` variables (``environ``)."""
    return parse_settings(argv, environ)[0]


def subcommand_parser(name: str, usage: str, description: str) -> argparse.ArgumentParser:
    """The daemon's parser renamed for a user command (``status``, ``keepalive``): it accepts
    every daemon setting, so ``--state-dir`` or ``AUTOSTOP_STATE_DIR`` find the daemon."""
    p = build_parser()
    p.prog = f"autostop-async {name}"
    p.usage = f"%(prog)s {usage}  [daemon settings such as --state-dir]"
    p.epilog = None
    p.description = (
        f"{description} Settings of the daemon (--state-dir, AUTOSTOP_STATE_DIR) say where "
        "to find it."
    )
    return p


def parse_settings(
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    parser: argparse.ArgumentParser | None = None,
    daemon: bool = True,
) -> tuple[Config, argparse.Namespace]:
    """The Config and the parsed flags; ``parser`` may add a subcommand's own arguments to
    :func:`build_parser`'s. ``daemon`` false skips the checks that only concern the daemon."""
    env = os.environ if environ is None else environ
    args = (parser if parser is not None else build_parser()).parse_args(argv)

    def pick(flag: str) -> tuple[str, object] | None:
        """The value and the name it came from: the flag if given, else the environment."""
        value = getattr(args, flag.replace("-", "_"))
        if value is not None:
            return f"--{flag}", value
        name = _env_name(flag)
        if name in env:
            return name, env[name]
        return None

    kwargs: dict[str, object] = {}
    for flag in ("once", "dry-run", "json", "skip-git-ignored"):
        got = pick(flag)
        if got is not None:
            name, value = got
            kwargs[flag.replace("-", "_")] = (
                value if isinstance(value, bool) else _truthy(name, str(value))
            )

    if (got := pick("idle-time")) is not None:
        kwargs["idle_time"] = _duration_setting(
            got[0], str(got[1]), minimum=1.0, maximum=MAX_DURATION
        )
    if (got := pick("interval")) is not None:
        kwargs["interval"] = _duration_setting(
            got[0], str(got[1]), minimum=0.1, maximum=MAX_INTERVAL
        )

    for flag in ("watch", "exclude"):
        got = pick(flag)
        if got is None:
            continue
        name, value = got
        items = value if isinstance(value, list) else str(value).split(os.pathsep)
        items = [str(i) for i in items if str(i).strip()]
        if flag == "watch":
            if not items:
                raise ConfigError(f"{name} is empty: name at least one folder to watch")
            kwargs["watch"] = tuple(Path(i).expanduser() for i in items)
        else:
            kwargs["exclude"] = tuple(items)

    for flag in ("metadata-file", "state-dir", "log-file", "home", "editor-server-data-dir"):
        if (got := pick(flag)) is not None:
            if not str(got[1]).strip():
                raise ConfigError(f"{got[0]} is empty: give a path")
            kwargs[flag.replace("-", "_")] = Path(str(got[1])).expanduser()

    if (got := pick("region")) is not None and str(got[1]).strip():
        kwargs["region"] = str(got[1]).strip()
    if (got := pick("endpoint-url")) is not None and str(got[1]).strip():
        kwargs["endpoint_url"] = _url_setting(
            got[0], str(got[1]), ("http", "https"), "must start with http:// or https://"
        )

    kwargs.update(_signal_settings(pick))
    if "home" in kwargs and pick("notice-file") is None:
        kwargs["notice_file"] = Path(str(kwargs["home"])) / NOTICE_FILE_NAME
    config = Config(**kwargs)  # type: ignore[arg-type]
    if daemon and config.json and not config.once:
        raise ConfigError("--json needs --once (the daemon logs lines instead)")
    return config, args
