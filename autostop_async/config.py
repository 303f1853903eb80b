"""Settings: defaults, ``AUTOSTOP_*`` environment variables and command-line flags, validated.

Every flag ``--some-name`` can also be given as ``AUTOSTOP_SOME_NAME``; a flag wins over the
environment. Invalid values raise :class:`ConfigError`, whose message names the setting, so the
command line can print one line and exit 2.
"""

from __future__ import annotations

import argparse
import math
import os
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import Field, dataclass, field, fields, replace
from functools import partial
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

from .durations import format_duration, parse_duration
from .errors import ConfigError

__all__ = [
    "DEFAULT_HOME",
    "DEFAULT_METADATA_FILE",
    "DEFAULT_STATE_DIR",
    "IDLE_NOISE_FILES",
    "Config",
    "add_settings",
    "build_parser",
    "command_parser",
    "load_config",
    "parse_settings",
]

#: The user's home folder: the space's volume, watched by default.
DEFAULT_HOME = Path("/home/sagemaker-user")
DEFAULT_METADATA_FILE = Path("/opt/ml/metadata/resource-metadata.json")
DEFAULT_STATE_DIR = Path("/var/tmp/autostop-async")
#: Code Editor's idle endpoint and the file its idle extension writes (docs/reference.md,
#: "The editor's heartbeat").
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
#: Files in the home folder that the services of a SageMaker Distribution image rewrite by
#: themselves, whoever uses the app (measured, and read at the source: docs/idle-noise.md).
#: Left out of the walk unless ``--no-skip-idle-noise``; nothing else is.
IDLE_NOISE_FILES = (
    # start-code-editor's sync_agent.sh overwrites it at every start of the editor (and
    # supervisord restarts the editor whenever it ends).
    ".kiro/agents/sagemaker-default-agent.json",
)

_T = TypeVar("_T")
#: The longest idle time, keepalive or warning: 365 days, the longest idle timeout SageMaker's
#: own idle shutdown accepts (``IdleTimeoutInMinutes`` at most 525,600). Anything longer is a
#: typo (``1e12``), and times that far ahead cannot be printed as dates.
MAX_DURATION = 365 * 86400.0
#: The longest poll interval: one day. The interval is how often the cheap signals (editor,
#: terminals, CPU, GPU, keepalive) are looked at and the first retry of a failed DeleteApp;
#: rarer than daily, they would see nothing a person could wait for.
MAX_INTERVAL = 86400.0


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


def _endpoint_url(name: str, value: str) -> str | None:
    """The SageMaker endpoint; empty: the default one."""
    if not value.strip():
        return None
    return _url_setting(name, value, ("http", "https"), "must start with http:// or https://")


def _editor_idle_url(name: str, value: str) -> str:
    return _url_setting(name, value, ("http",), "must be a plain http:// URL (the local editor)")


def _path(name: str, value: str) -> Path:
    if not value.strip():
        raise ConfigError(f"{name} is empty: give a path")
    return Path(value).expanduser()


def _path_or_none(name: str, value: str) -> Path | None:
    """A path; empty: none."""
    text = value.strip()
    return Path(text).expanduser() if text else None


def _text(name: str, value: str) -> str:
    return value


#: The log levels a user may name, quietest last (``DEBUG`` adds every poll).
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def _log_level(name: str, value: str) -> str:
    """One of :data:`LOG_LEVELS`, in any case; anything else (``verbose``, ``10``, empty) is
    refused, so a typo is one line and exit 2, not a crash the supervisor restarts."""
    level = value.strip().upper()
    if level not in LOG_LEVELS:
        raise ConfigError(f"{name}={value!r} is not a log level (use {', '.join(LOG_LEVELS)})")
    return level


def _text_or_none(name: str, value: str) -> str | None:
    """Stripped text; empty: not set."""
    return value.strip() or None


#: How a setting is given on the command line: ``value`` a flag with a value; ``list`` a
#: repeatable flag, ``os.pathsep``-separated in the environment; ``switch`` a flag without a
#: value (``--once``); ``on-off`` a pair ``--x``/``--no-x``. Switches read 1/0, true/false
#: from the environment.
SettingKind = Literal["value", "list", "switch", "on-off"]
SIGNALS_GROUP = "signs of use"
CONTROLS_GROUP = "controls"


@dataclass(frozen=True)
class Setting:
    """How one :class:`Config` field is set: the flag ``--field-name`` and the variable
    ``AUTOSTOP_FIELD_NAME`` both go through ``parse(name, text)``, where ``name`` is the one
    that was used, so an error names what the user wrote."""

    help: str
    parse: Callable[[str, str], object] = _text
    metavar: str | None = None
    action: SettingKind = "value"
    #: The help's heading; None: the general options.
    group: str | None = None
    #: The default as the help shows it, where the field's own value does not say it (None,
    #: or computed at start).
    shown: str | None = None
    #: For a ``list``: why an empty one is refused; None: empty is allowed.
    if_empty: str | None = None


def setting(
    default: _T,
    help: str,
    parse: Callable[[str, str], object] = _text,
    *,
    metavar: str | None = None,
    action: SettingKind = "value",
    group: str | None = None,
    shown: str | None = None,
    if_empty: str | None = None,
) -> _T:
    """A Config field that is a setting: its default, how it is parsed, and its help."""
    spec = Setting(help, parse, metavar, action, group, shown, if_empty)
    return field(default=default, metadata={"setting": spec})


_duration_until_a_year = partial(_duration_setting, minimum=0.0, maximum=MAX_DURATION)


@dataclass(frozen=True)
class Config:
    """Everything the daemon needs to know, fixed for its lifetime.

    Each field declared with :func:`setting` is a flag ``--field-name`` and a variable
    ``AUTOSTOP_FIELD_NAME``; the others are fixed by the code.
    """

    once: bool = setting(False, "check once and exit", action="switch")
    dry_run: bool = setting(
        False,
        "never call DeleteApp; say what would be done (works without a metadata file)",
        action="switch",
    )
    json: bool = setting(False, "with --once: print JSON", action="switch")
    idle_time: float = setting(
        3600.0,
        "idle time before deletion: 3600, 90m, 2h",
        partial(_duration_setting, minimum=1.0, maximum=MAX_DURATION),
        metavar="DURATION",
    )
    #: The folders to watch; None: the home folder, and the editor's History and Backups
    #: wherever the editor keeps them (signals/editor_layout.py).
    watch: tuple[Path, ...] | None = setting(
        None,
        "folder to watch (repeatable)",
        _path,
        metavar="PATH",
        action="list",
        shown="the home folder and the editor's History and Backups folders, wherever the "
        "editor keeps them",
        if_empty="name at least one folder to watch",
    )
    #: The user's home folder: the space's volume, watched by default.
    home: Path = setting(
        DEFAULT_HOME,
        "the user's home folder: watched unless --watch is given; holds the notice file",
        _path,
        metavar="PATH",
    )
    #: Code Editor's --server-data-dir; None: asked of the running editor, else looked for.
    editor_server_data_dir: Path | None = setting(
        None,
        "Code Editor's --server-data-dir; only its data/User/History and data/User/Backups "
        "count as activity",
        _path,
        metavar="PATH",
        shown="asked of the running editor, else ~/sagemaker-code-editor-server-data or the "
        "pre-2.3 location",
    )
    exclude: tuple[str, ...] = setting(
        (),
        "glob of paths or names not to count (repeatable), e.g. '*.log', '*/.cache'",
        metavar="GLOB",
        action="list",
        shown="none",
    )
    interval: float = setting(
        60.0,
        "how often cheap signals are polled",
        partial(_duration_setting, minimum=0.1, maximum=MAX_INTERVAL),
        metavar="DURATION",
    )
    metadata_file: Path = setting(
        DEFAULT_METADATA_FILE, "the app's resource metadata JSON", _path, metavar="PATH"
    )
    state_dir: Path = setting(
        DEFAULT_STATE_DIR, "where the daemon keeps its state", _path, metavar="PATH"
    )
    region: str | None = setting(
        None, "AWS region", _text_or_none, metavar="REGION", shown="from the app ARN"
    )
    endpoint_url: str | None = setting(
        None,
        "SageMaker endpoint (for emulators)",
        _endpoint_url,
        metavar="URL",
        shown="the region's",
    )
    log_file: Path | None = setting(
        None, "append log lines here", _path, metavar="PATH", shown="stderr"
    )
    log_level: str = setting(
        "INFO", "what the log says: DEBUG adds every poll", _log_level, metavar="LEVEL"
    )
    #: Leave out the folders git repositories ignore (node_modules, .venv, build output).
    skip_git_ignored: bool = setting(
        False,
        "do not walk folders a git repository's ignore rules exclude (node_modules, .venv, "
        "build output), though a job writing into an ignored folder is activity",
        action="switch",
    )
    skip_idle_noise: bool = setting(
        True,
        "leave out the few files in the home folder that the image's own services rewrite by "
        "themselves (docs/idle-noise.md)",
        action="on-off",
    )
    # More signs of use (signals/: editor.py, terminals.py, busy.py) and the user's controls.
    editor: bool = setting(
        True, "count Code Editor's idle heartbeat", action="on-off", group=SIGNALS_GROUP
    )
    editor_idle_url: str = setting(
        DEFAULT_EDITOR_IDLE_URL,
        "editor idle endpoint",
        _editor_idle_url,
        metavar="URL",
        group=SIGNALS_GROUP,
    )
    editor_idle_file: Path = setting(
        DEFAULT_EDITOR_IDLE_FILE,
        "editor heartbeat file, read when the endpoint does not answer",
        _path,
        metavar="PATH",
        group=SIGNALS_GROUP,
    )
    terminals: bool = setting(True, "count terminal activity", action="on-off", group=SIGNALS_GROUP)
    #: Output alone (a ``watch``, ``top``, ``tail -f``, tmux's clock) is nobody's use; see
    #: docs/terminals.md.
    terminal_output: bool = setting(
        False,
        "count output written to a terminal as use too, not only input a program reads",
        action="on-off",
        group=SIGNALS_GROUP,
    )
    terminals_dir: Path = setting(
        DEFAULT_TERMINALS_DIR,
        "folder of terminal devices",
        _path,
        metavar="PATH",
        group=SIGNALS_GROUP,
    )
    busy: bool = setting(
        True, "count running work: CPU and GPU use", action="on-off", group=SIGNALS_GROUP
    )
    #: Percent of the whole machine's CPU; None: half of one core's share (25 on 2 vCPUs).
    busy_cpu: float | None = setting(
        None,
        "share of the whole machine's CPU used by other processes above which it is busy",
        _percent_setting,
        metavar="PERCENT",
        group=SIGNALS_GROUP,
        shown="half a core, i.e. 25 on 2 vCPUs",
    )
    busy_gpu: float = setting(
        10.0,
        "GPU utilisation above which it is busy",
        _percent_setting,
        metavar="PERCENT",
        group=SIGNALS_GROUP,
    )
    #: The cgroup folder whose CPU accounting is the app's; without one, /proc/stat is used.
    busy_cgroup_dir: Path = setting(
        DEFAULT_CGROUP_DIR,
        "cgroup folder whose CPU accounting (cpu.stat or cpuacct.usage) is the app's; "
        "without one there, the whole machine's /proc/stat",
        _path,
        metavar="PATH",
        group=SIGNALS_GROUP,
    )
    max_keepalive: float = setting(
        12 * 3600.0,
        "longest postponement `keepalive` may ask for; 0 disables keepalive",
        _duration_until_a_year,
        metavar="DURATION",
        group=CONTROLS_GROUP,
    )
    warn_before: float = setting(
        300.0,
        "warn terminals and the notice file this long before stopping; 0: never",
        _duration_until_a_year,
        metavar="DURATION",
        group=CONTROLS_GROUP,
    )
    #: Where the warning is written for people who are not in a terminal; None: nowhere.
    #: It follows --home unless given.
    notice_file: Path | None = setting(
        DEFAULT_NOTICE_FILE,
        "file the warning is written to; empty: none",
        _path_or_none,
        metavar="PATH",
        group=CONTROLS_GROUP,
        shown=f"{NOTICE_FILE_NAME} in the home folder, {DEFAULT_NOTICE_FILE}",
    )
    #: Workers of a scan of a slow disk (not a setting).
    concurrency: int = 4

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
    def idle_noise_files(self) -> tuple[Path, ...]:
        """The files of IDLE_NOISE_FILES in the home folder, left out of the walk (none with
        ``--no-skip-idle-noise``)."""
        if not self.skip_idle_noise:
            return ()
        return tuple(self.home / rel for rel in IDLE_NOISE_FILES)

    @property
    def state_file(self) -> Path:
        """The JSON file where the daemon keeps its clock between runs."""
        return self.state_dir / "state.json"


def declared_settings() -> list[tuple[Field[Any], Setting]]:
    """Config's settings, in the order of the help: each field and its declaration."""
    return [(f, f.metadata["setting"]) for f in fields(Config) if "setting" in f.metadata]


def flag_name(field_name: str) -> str:
    """``--idle-time`` for ``idle_time``."""
    return "--" + field_name.replace("_", "-")


def env_name(field_name: str) -> str:
    """``AUTOSTOP_IDLE_TIME`` for ``idle_time``."""
    return ENV_PREFIX + field_name.upper()


def _shown_default(spec: Setting, default: object) -> str:
    """The default as the help shows it: ``on``/``off``, ``1h``, a path, or the declared text."""
    if spec.shown is not None:
        return spec.shown
    if isinstance(default, bool):
        return "on" if default else "off"
    if spec.metavar == "DURATION" and isinstance(default, float):
        return format_duration(default, compact=True)
    if isinstance(default, float):
        return f"{default:g}"
    return str(default)


def build_parser(
    commands: str | None = None, *, only: Sequence[str] | None = None, prog: str = "autostop-async"
) -> argparse.ArgumentParser:
    """The argument parser of the daemon: a flag for each setting of Config (or the settings
    named in ``only``, by field name), its help ending in the default. ``commands``, the other
    commands, come first in the help, before the flags."""
    description = textwrap.fill(
        "Delete this SageMaker Code Editor app once nothing has happened for IDLE_TIME. "
        "Every flag can also be set as AUTOSTOP_<NAME> in the environment; flags win.",
        79,
    )
    p = argparse.ArgumentParser(
        prog=prog,
        usage="%(prog)s [COMMAND] [--once] [--dry-run] [--idle-time DURATION] [OPTION ...]",
        description=f"{description}\n\n{commands}" if commands else description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_settings(p, only=only)
    return p


def add_settings(p: argparse.ArgumentParser, *, only: Sequence[str] | None = None) -> None:
    """Add a flag to ``p`` for each setting (or each one named in ``only``), in its group."""
    defaults = Config()
    groups: dict[str | None, argparse._ActionsContainer] = {None: p}
    for f, spec in declared_settings():
        if only is not None and f.name not in only:
            continue
        if spec.group not in groups:
            groups[spec.group] = p.add_argument_group(spec.group)
        shown = _shown_default(spec, getattr(defaults, f.name)).replace("%", "%%")
        # The default is None so that "not given" can fall back to the environment, then
        # to Config.
        kwargs: dict[str, Any] = {"default": None, "help": f"{spec.help} (default: {shown})"}
        if spec.action == "switch":
            kwargs["action"] = "store_true"
        elif spec.action == "on-off":
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["metavar"] = spec.metavar
            if spec.action == "list":
                kwargs["action"] = "append"
        groups[spec.group].add_argument(flag_name(f.name), **kwargs)


def load_config(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> Config:
    """Build a validated Config from flags (``argv``) and ``AUTOSTOP_*`` variables (``environ``)."""
    return parse_settings(argv, environ)[0]


def command_parser(
    name: str, usage: str, description: str, settings: Sequence[str] = ("state_dir",)
) -> argparse.ArgumentParser:
    """The parser of a user command (``status``, ``keepalive``): its own arguments are added by
    the caller; of the daemon's settings it takes only ``settings`` as flags (``--state-dir``
    finds the daemon). Every ``AUTOSTOP_*`` variable is still read (:func:`parse_settings`)."""
    p = argparse.ArgumentParser(
        prog=f"autostop-async {name}",
        usage=f"%(prog)s {usage}",
        description=description,
    )
    add_settings(p, only=settings)
    return p


def _value(spec: Setting, name: str, raw: object) -> object:
    """The value of a setting given as ``raw`` (a flag's value or a variable's text) by
    ``name`` (the flag or the variable)."""
    if spec.action in ("switch", "on-off"):
        return raw if isinstance(raw, bool) else _truthy(name, str(raw))
    if spec.action == "list":
        items = raw if isinstance(raw, list) else str(raw).split(os.pathsep)
        texts = [str(i) for i in items if str(i).strip()]
        if not texts and spec.if_empty is not None:
            raise ConfigError(f"{name} is empty: {spec.if_empty}")
        return tuple(spec.parse(name, text) for text in texts)
    return spec.parse(name, str(raw))


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
    values: dict[str, Any] = {}
    for f, spec in declared_settings():
        raw = getattr(args, f.name, None)  # a command's parser takes a few settings
        if raw is not None:  # a flag wins over the environment
            values[f.name] = _value(spec, flag_name(f.name), raw)
        elif (name := env_name(f.name)) in env:
            values[f.name] = _value(spec, name, env[name])
    if "home" in values and "notice_file" not in values:
        values["notice_file"] = Path(str(values["home"])) / NOTICE_FILE_NAME
    config = replace(Config(), **values)
    if daemon and config.json and not config.once:
        raise ConfigError("--json needs --once (the daemon logs lines instead)")
    return config, args
