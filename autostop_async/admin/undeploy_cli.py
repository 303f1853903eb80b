"""``autostop-async undeploy``: the entry of the command line's ``undeploy`` (the work is in
:mod:`.deploy_cli`)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from .deploy_cli import main as _main

__all__ = ["main"]


def main(argv: Sequence[str]) -> int:
    """Undeploy with ``argv`` (the flags after ``undeploy``); the exit code."""
    return _main(["undeploy", *argv])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
