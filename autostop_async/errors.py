"""Every error the package raises on purpose, in one tree.

::

    AutostopError                    base: an error of autostop-async, with a message for people
    ├── UsageError                   exit 2: one line on stderr naming the setting or file (cli.py)
    │   ├── ConfigError              a setting's value (ValueError)
    │   ├── MetadataError            the app's metadata file (ValueError)
    │   ├── AppNotFoundError         DescribeApp finds no app as the metadata names it
    │   └── StateDirBusy             another daemon holds the state folder
    ├── CommandFailed                exit 1: a command could not do what it was asked (cli.py)
    │   ├── CommandNotFound          exit 127: ``keepalive -- CMD`` cannot find CMD (as a shell)
    │   └── admin.failures.AdminError   deploy/undeploy: AWS said no, or not as expected
    │       ├── AccessDenied             names the action and the resource
    │       └── admin UsageError         also a UsageError: exit 2, before any AWS call
    ├── DeleteAppError               DeleteApp failed after the SDK's retries (RuntimeError)
    ├── RepoError                    one git repository cannot be read
    ├── MalformedHeartbeatError      the editor's endpoint or file holds no time (ValueError)
    └── UnsafeFileError              a file refused before or while reading it (OSError)
        ├── NotRegularFileError      a FIFO, a device, a socket or a folder
        ├── FileTooLargeError        larger than what is read of it
        └── NotAnsweringError        did not answer in time (a hung mount)

A message names the thing that is wrong and what to do, and never quotes a user-written file.
The command line turns a :class:`UsageError` into exit 2 and a :class:`CommandFailed` into
exit 1 (its own code), in one place (:func:`autostop_async.cli.guarded`).
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "AppNotFoundError",
    "AutostopError",
    "CommandFailed",
    "CommandNotFound",
    "ConfigError",
    "DeleteAppError",
    "FileTooLargeError",
    "MalformedHeartbeatError",
    "MetadataError",
    "NotAnsweringError",
    "NotRegularFileError",
    "RepoError",
    "StateDirBusy",
    "UnsafeFileError",
    "UsageError",
]


class AutostopError(Exception):
    """Base of the errors autostop-async raises on purpose."""


class UsageError(AutostopError):
    """Bad configuration or input: the command exits 2 with this one-line message."""


class ConfigError(UsageError, ValueError):
    """A setting has an invalid value; the message names the setting and says what is accepted."""


class MetadataError(UsageError, ValueError):
    """The metadata file is missing, not JSON, or lacks a key; the message names file and key."""


class AppNotFoundError(UsageError):
    """At start, ``DescribeApp`` finds no app of the metadata file's name in the region used."""


class StateDirBusy(UsageError):
    """Another daemon holds the state folder's lock; ``pid`` is its process if known."""

    def __init__(self, state_dir: Path, pid: int | None, *, once: bool = False) -> None:
        self.state_dir = state_dir
        self.pid = pid
        holder = f"a daemon (pid {pid})" if pid else "a daemon"
        if once:
            text = (
                f"{holder} is running with the state folder {state_dir} and decides for this "
                "app: --once does not decide beside it (`status` shows what the daemon sees; "
                "give --once its own --state-dir to check independently)"
            )
        else:
            text = (
                f"{holder} is already running with the state folder {state_dir}; "
                "not starting a second one"
            )
        super().__init__(text)


class CommandFailed(AutostopError):
    """A command could not do what it was asked (a file it must write, say): exit 1."""

    exit_code = 1


class CommandNotFound(CommandFailed):
    """``keepalive -- CMD``: there is no CMD to run; exit 127, as a shell says it."""

    exit_code = 127


class DeleteAppError(AutostopError, RuntimeError):
    """``DeleteApp`` failed after the SDK's retries; ``code`` is the AWS error code if any."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code

    @property
    def access_denied(self) -> bool:
        """True when the execution role lacks the permission (retrying needs an admin)."""
        return self.code in {"AccessDeniedException", "AccessDenied", "UnauthorizedOperation"}


class RepoError(AutostopError):
    """A repository cannot be read: corrupt, half-cloned, or unreadable."""


class MalformedHeartbeatError(AutostopError, ValueError):
    """The editor's endpoint or heartbeat file answered something that is not a time."""


class UnsafeFileError(AutostopError, OSError):
    """A file refused before or while reading it; its text is the reason alone (callers name
    the file themselves)."""

    def __str__(self) -> str:
        return str(self.strerror)


class NotRegularFileError(UnsafeFileError):
    """The path is a FIFO, a device, a socket or a folder, not a regular file."""


class FileTooLargeError(UnsafeFileError):
    """The file is larger than what is read of it."""


class NotAnsweringError(UnsafeFileError):
    """Opening or reading the file did not finish in time (a hung mount)."""
