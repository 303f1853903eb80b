"""The lifecycle configuration a deploy creates: a short loader, named by its content, checked
against Studio's limits, and chained after an admin's own built-in LCC.

The full script (``lcc/on-start.sh`` with its settings filled in, :func:`render`) is uploaded to
S3 under a content-addressed name (:func:`script_key`); the LCC itself is only a loader
(:func:`loader`, well under 2 KB) that fetches that script and runs it detached, so that the LCC
returns within seconds whatever the network does (Studio gives all of an app start's LCCs 5
minutes together, and fails the app past that) and an admin's LCC of any reasonable size fits
beside it in one chained LCC (:func:`chain`).

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
    "loader",
    "render",
    "script_key",
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
    chains: str | None = None  # the admin's own built-in LCC it runs first

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
    """The script without comment-only lines and blank lines (``#!`` lines stay): a smaller
    download at each app start."""
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
    return _compact(text)  # in S3, run by the loader: not bound by the LCC size limit


def check_size(script: str, *, what: str, hint: str = "") -> str:
    """``script``, or :class:`UsageError` when its base64 is over Studio's limit (by how much)."""
    chars = len(base64.b64encode(script.encode()))
    if chars > MAX_CONTENT_CHARS:
        raise UsageError(
            f"{what} is {chars:,} base64 characters, {chars - MAX_CONTENT_CHARS:,} over "
            f"Studio's limit of {MAX_CONTENT_CHARS:,}{hint}"
        )
    return script


def script_key(prefix: str, script: str) -> str:
    """Where the rendered ``script`` goes in S3, under the deployment's ``prefix``: beside the
    wheelhouses (``PREFIX/wheelhouse/lcc/on-start-HASH.sh``), so that the execution roles' read
    access to ``PREFIX/wheelhouse/*`` covers it, named by its content."""
    digest = hashlib.sha256(script.encode()).hexdigest()[:16]
    return f"{prefix}wheelhouse/lcc/on-start-{digest}.sh"


#: The loader. It must stay small (it shares Studio's 16,384 characters with a chained LCC) and
#: never fail the app: every failure is logged, for people and as the ``install-failed`` event
#: line of :mod:`autostop_async.events`, and it exits 0. It fetches with the aws CLI, or with
#: boto3 in the image's Python when there is no CLI (as ``lcc/on-start.sh`` does).
_LOADER = r"""#!/bin/bash
# autostop-async: runs its start script from S3, detached; never fails the app
U=@URI@
L=${AUTOSTOP_LCC_LOG:-/var/log/apps/app_container.log}
now() { date -u +%Y-%m-%dT%H:%M:%SZ; }
[ -w "$L" ] || { sudo -n touch "$L" && sudo -n chown "$(id -u)" "$L"; } 2>/dev/null
say() { echo "$(now) autostop-async loader: $1" | tee -a "$L" >&2 2>/dev/null; }
fail() {
  say "ERROR: $1; the app will NOT stop by itself"
  printf '%s autostop-async[%s] INFO autostop-async-event %s\n' "$(now)" "$$" \
    "{\"schema\":1,\"event\":\"install-failed\",\"time\":\"$(now)\",\"reason\":\"$1\"}" >>"$L"
}
if [ -z "${AWS_CONTAINER_CREDENTIALS_RELATIVE_URI:-}${AWS_CONTAINER_CREDENTIALS_FULL_URI:-}" ]
then
  while IFS= read -r -d '' kv; do
    case $kv in AWS_CONTAINER_*=* | AWS_REGION=* | AWS_DEFAULT_REGION=*) export "${kv?}" ;; esac
  done < <(sudo -n cat /proc/1/environ 2>/dev/null)
fi
get() {
  if command -v aws >/dev/null; then timeout 60 aws s3 cp --quiet "$U" "$1"; return; fi
  P=/opt/conda/bin/python
  [ -x $P ] || P=python3
  timeout 60 $P -c 'import sys, boto3
b, _, k = sys.argv[1][5:].partition("/")
boto3.client("s3").download_file(b, k, sys.argv[2])' "$U" "$1"
}
run() {
  f=$(mktemp /tmp/autostop-async-start.XXXXXX) || { fail "no temporary file"; return; }
  if get "$f"; then
    bash "$f"
    rc=$?
    [ $rc -eq 0 ] || fail "its start script exited $rc"
  else
    say "could not fetch $U"
    fail "could not fetch its start script from S3"
  fi
  rm -f "$f"
}
run </dev/null >/dev/null 2>&1 &
say "started its start script in the background ($U)"
exit 0
"""


def loader(script_uri: str) -> str:
    """The LCC's script: fetch ``script_uri`` (``s3://…``, the rendered ``on-start.sh``) and run
    it detached; it returns within seconds and exits 0 whatever happens."""
    return check_size(_LOADER.replace("@URI@", shlex.quote(script_uri)), what="the loader")


def chain(theirs_arn: str, theirs: str, ours: str) -> str:
    """One script that runs the admin's LCC (``theirs``, its exact text, from a temporary file
    with bash), then ours; it exits with theirs's status, so an app whose start failed before
    still fails, and ours never makes one fail."""
    tag = hashlib.sha256((theirs + ours).encode()).hexdigest()[:8]
    theirs_end = f"AUTOSTOP_THEIRS_{tag}"
    if theirs_end in set(theirs.splitlines()):  # pragma: no cover - a hash collision
        raise AdminError("cannot chain: the script holds the here-document's end marker")
    name = theirs_arn.rsplit("/", 1)[-1]
    # A here-document ends its text with one newline: theirs's own last newline, or one added.
    body = theirs[:-1] if theirs.endswith("\n") else theirs
    script = "\n".join(
        [
            "#!/bin/bash",
            f"# Runs the lifecycle configuration {name} (unchanged), then autostop-async's loader.",
            "f=$(mktemp /tmp/lcc-first.XXXXXX) || f=/tmp/lcc-first-$$",
            f"cat >\"$f\" <<'{theirs_end}'",
            body,
            theirs_end,
            'bash "$f"',
            "rc=$?",
            'rm -f "$f"',
            "( # autostop-async: never fails the app",
            ours.rstrip("\n"),
            ") || true",
            'exit "$rc"',
            "",
        ]
    )
    return check_size(
        script,
        what=f"the LCC that runs the built-in LCC {name} and then autostop-async's",
        hint=(
            f"; nothing was changed. To proceed: make {name} smaller, or add autostop-async's "
            "start to it by hand (docs/install-by-hand.md), or leave the resources whose "
            f"built-in LCC it is out of scope (--user-profile). {name} is never dropped."
        ),
    )
