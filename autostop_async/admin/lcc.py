"""The lifecycle configuration a deploy creates: rendered from ``lcc/on-start.sh``, named by
its content, checked against Studio's limits, and chained after an admin's own LCC.

Studio keeps an LCC's content base64-encoded, at most 16,384 characters, and cannot edit one:
a new content is a new LCC. So the name carries a hash of the content (and of the domain: an
undeploy in one domain never deletes what another uses), and the same settings find the LCC
that exists.
"""

from __future__ import annotations

import base64
import hashlib
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from .failures import AdminError, UsageError
from .settings import DaemonSettings

__all__ = [
    "MAX_CONTENT_CHARS",
    "NAME_PREFIX",
    "Lcc",
    "chain",
    "is_ours",
    "lcc_arn",
    "lcc_name",
    "render",
]

#: Studio's limit on ``StudioLifecycleConfigContent`` (base64 characters).
MAX_CONTENT_CHARS = 16384
#: Studio's pattern for ``StudioLifecycleConfigName``.
NAME_PATTERN = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
#: Every LCC a deploy creates is named ``autostop-async-`` and 12 hex digits.
NAME_PREFIX = "autostop-async-"
_OURS = re.compile(r":studio-lifecycle-config/autostop-async-[0-9a-f]{12}$")
#: The settings block of on-start.sh that a deploy fills in.
_SETTINGS = {
    "IDLE_TIME": re.compile(r"^IDLE_TIME=.*$", re.M),
    "PACKAGE": re.compile(r"^PACKAGE=.*$", re.M),
    "EXTRA_ARGS": re.compile(r"^EXTRA_ARGS=.*$", re.M),
}


@dataclass(frozen=True)
class Lcc:
    """A lifecycle configuration to create (or found): name, script, ARN, what it chains."""

    name: str
    script: str
    arn: str
    chains: str | None = None  # the admin's own LCC it runs first

    @property
    def content(self) -> str:
        """The base64 content Studio stores."""
        return base64.b64encode(self.script.encode()).decode()


def is_ours(arn: str | None) -> bool:
    """An LCC a deploy created (by its name)."""
    return arn is not None and _OURS.search(arn) is not None


def lcc_name(domain_id: str, script: str) -> str:
    """``autostop-async-`` and 12 hex digits of the domain and the script's hash."""
    digest = hashlib.sha256(f"{domain_id}\0{script}".encode()).hexdigest()[:12]
    name = NAME_PREFIX + digest
    if not NAME_PATTERN.fullmatch(name):  # pragma: no cover - the prefix is fixed
        raise AdminError(f"LCC name {name!r} does not match {NAME_PATTERN.pattern}")
    return name


def lcc_arn(domain_arn: str, name: str) -> str:
    """The ARN Studio gives an LCC named ``name`` in the domain's partition, region, account."""
    parts = domain_arn.split(":", 5)
    if len(parts) != 6 or not parts[5].startswith("domain/"):
        raise AdminError(f"unexpected domain ARN {domain_arn!r}")
    return ":".join([*parts[:5], f"studio-lifecycle-config/{name}"])


def _compact(script: str) -> str:
    """The script without comment-only lines and blank lines (``#!`` lines stay): Studio's
    size limit leaves more room for an LCC chained before it."""
    kept = []
    for line in script.splitlines():
        stripped = line.strip()
        if not stripped or (stripped.startswith("#") and not stripped.startswith("#!")):
            continue
        kept.append(line)
    return "\n".join(kept) + "\n"


def render(template: Path, settings: DaemonSettings, package: str) -> str:
    """``template`` (``lcc/on-start.sh``) with the settings block filled in."""
    try:
        text = template.read_text()
    except OSError as exc:
        raise UsageError(f"LCC template {template}: {exc.strerror or exc}") from None
    values = {
        "IDLE_TIME": shlex.quote(settings.idle_time),
        "PACKAGE": shlex.quote(package),
        "EXTRA_ARGS": "(" + " ".join(shlex.quote(a) for a in settings.args) + ")",
    }
    for key, pattern in _SETTINGS.items():
        line = f"{key}={values[key]}".replace("\\", "\\\\")
        text, count = pattern.subn(line, text, count=1)
        if count != 1:
            raise UsageError(f"LCC template {template} has no {key}= line to fill in")
    return check_size(_compact(text), what="the rendered LCC")


def check_size(script: str, *, what: str, hint: str = "") -> str:
    """``script``, or :class:`UsageError` when its base64 is over Studio's limit."""
    chars = len(base64.b64encode(script.encode()))
    if chars > MAX_CONTENT_CHARS:
        raise UsageError(
            f"{what} is {chars:,} base64 characters; Studio takes at most "
            f"{MAX_CONTENT_CHARS:,}{hint}"
        )
    return script


def chain(theirs_arn: str, theirs: str, ours: str) -> str:
    """One script that runs the admin's LCC (``theirs``), then ours; it exits as theirs did, so
    an app that failed to start before still fails, and ours cannot make one fail."""
    tag = hashlib.sha256((theirs + ours).encode()).hexdigest()[:8]
    theirs_end, ours_end = f"AUTOSTOP_THEIRS_{tag}", f"AUTOSTOP_OURS_{tag}"
    lines = set(theirs.splitlines()) | set(ours.splitlines())
    if theirs_end in lines or ours_end in lines:  # pragma: no cover - a hash collision
        raise AdminError("cannot chain: the script holds the here-document's end marker")
    name = theirs_arn.rsplit("/", 1)[-1]
    script = "\n".join(
        [
            "#!/bin/bash",
            f"# Runs the lifecycle configuration {name} (unchanged), then autostop-async's.",
            "set -u",
            "dir=$(mktemp -d) || exit 1",
            f"cat >\"$dir/theirs\" <<'{theirs_end}'",
            theirs.rstrip("\n"),
            theirs_end,
            f"cat >\"$dir/ours\" <<'{ours_end}'",
            ours.rstrip("\n"),
            ours_end,
            'chmod +x "$dir/theirs" "$dir/ours"',
            '"$dir/theirs"',
            "rc=$?",
            '"$dir/ours" || echo "autostop-async: its lifecycle configuration failed" >&2',
            'rm -rf "$dir"',
            'exit "$rc"',
            "",
        ]
    )
    return check_size(
        script,
        what=f"the LCC that runs the default LCC {name} and then autostop-async's",
        hint=(
            f"; nothing was changed. To proceed: make {name} smaller, or add autostop-async's "
            "start to it by hand (docs/install-by-hand.md), or leave the resources whose "
            f"default it is out of scope (--user-profile/--space). {name} is never dropped."
        ),
    )
