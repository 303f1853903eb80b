"""The command line: ``autostop-async [COMMAND] [OPTIONS]``.

One program, two sides (see docs/development.md):

- in the app: the daemon (the default: no command name, or ``run``), ``status``, ``keepalive``;
- on the administrator's machine: ``deploy`` and ``undeploy``.

Each command is a module with ``main(argv) -> int`` and its own parser (``--help`` lists its own
options). A command raises :class:`~autostop_async.errors.UsageError` for bad input and
:class:`~autostop_async.errors.CommandFailed` when it cannot do its work; :func:`guarded`, the
one place that does it, turns them into one line on stderr and exit 2 or 1.

The process ends with ``os._exit`` once its work is done and its output flushed (:func:`entry`):
a worker thread stuck in a system call (a hung mount, a FIFO) can be neither stopped nor joined,
and a normal interpreter exit would wait for it forever. A reader that goes away early
(``status | head -1``) ends the command quietly, as it ends ``cat``: exit 141, no traceback.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from . import __version__
from .errors import CommandFailed, UsageError

__all__ = ["COMMANDS", "EXIT_FAILED", "EXIT_PIPE", "EXIT_USAGE", "entry", "guarded", "main"]

EXIT_FAILED, EXIT_USAGE = 1, 2
#: The reader of the output went away (128 + SIGPIPE: what a shell shows for ``cat``).
EXIT_PIPE = 141


@dataclass(frozen=True)
class Command:
    """A subcommand: the module whose ``main(argv)`` runs it, and one line for the help."""

    module: str
    summary: str


#: The commands by name; the daemon (``run``) is also what runs when no name is given.
COMMANDS: dict[str, Command] = {
    "run": Command("launch", "the daemon (the default): delete this app once idle"),
    "status": Command("status", "what the daemon sees, and when it will stop the app"),
    "keepalive": Command(
        "keepalive", "postpone the stop: `keepalive 2h`, `keepalive -- CMD`, `keepalive --pid PID`"
    ),
    "deploy": Command(
        "admin.deploy_cli", "admin: put the auto-stop on a domain's Code Editor apps"
    ),
    "undeploy": Command("admin.undeploy_cli", "admin: undo a deploy, exactly"),
}


def commands_help() -> str:
    """The commands, one per line, for the top of the daemon's ``--help``."""
    width = max(map(len, COMMANDS))
    lines = [f"  {name:<{width}}  {cmd.summary}" for name, cmd in COMMANDS.items()]
    lines.append(f"  {'--version':<{width}}  print the version and exit")
    return "commands (autostop-async COMMAND --help):\n" + "\n".join(lines)


def guarded(
    run: Callable[..., int],
    *args: Any,
    prog: str = "autostop-async",
    err: TextIO | None = None,
    **kwargs: Any,
) -> int:
    """``run(*args, **kwargs)``'s exit code; a usage error is one line on stderr (``err``)
    and exit 2, a failed command one line and its exit code (1; 127: a command to run that is
    not there). ``prog`` begins the line: the command that failed."""
    try:
        return run(*args, **kwargs)
    except UsageError as exc:
        code, message = EXIT_USAGE, str(exc)
    except CommandFailed as exc:
        code, message = exc.exit_code, str(exc)
    print(f"{prog}: error: {message}", file=sys.stderr if err is None else err, flush=True)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """``autostop-async``: the command named first, else the daemon with every argument."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] in (["--version"], ["-V"]):
        print(f"autostop-async {__version__}")
        return 0
    name = args[0] if args and args[0] in COMMANDS else "run"
    if args and args[0] == name:
        args = args[1:]
    module = importlib.import_module(f".{COMMANDS[name].module}", __package__)
    if name == "run":  # the daemon's --help lists the commands first
        return guarded(module.main, args, epilog=commands_help())
    return guarded(module.main, args)


def entry() -> None:
    """The program: :func:`main`, then flush what it wrote and end the process at once, so that
    no worker thread stuck in a system call can delay the exit (the state is saved by then).

    A closed pipe (``status | head -1``) is the reader's choice, not an error: the output left
    goes nowhere and the exit code is 141, with no traceback (Python ignores SIGPIPE, so a
    write raises BrokenPipeError instead; the daemon keeps ignoring it for its sockets)."""
    try:
        try:
            code = main()
        except SystemExit as exc:  # argparse: --help, --version, its usage errors
            code = _exit_code(exc.code)
        sys.stdout.flush()
    except BrokenPipeError:
        code = _reader_gone()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def _exit_code(code: object) -> int:
    """The exit code ``sys.exit(code)`` means: None is 0, a number itself, text is printed and 1."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _reader_gone() -> int:
    """Send what stdout still holds to ``/dev/null``, so no later flush fails; exit 141."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    return EXIT_PIPE
