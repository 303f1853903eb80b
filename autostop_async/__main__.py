"""``python -m autostop_async``: the command line (:mod:`autostop_async.cli`)."""

from autostop_async.cli import entry

if __name__ == "__main__":
    entry()
