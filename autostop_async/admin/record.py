"""The deployment record: what a deploy changed, kept in S3 beside the wheelhouse, so that
``undeploy`` can put back each setting as it was (the before-image) and knows its own LCCs.

Format 2 (``"method": "built-in"``): the deploy attaches through the built-in LCC. Format 1
records (no method) are from deploys that attached through the default LCC and its list; the
next deploy migrates such a domain (:mod:`.plan`) and writes format 2.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .failures import AdminError

__all__ = ["BUILT_IN", "DEFAULT", "FORMAT", "Record"]

FORMAT = 2
#: How a deploy attached autostop-async: the built-in LCC (now), the default LCC (format 1).
BUILT_IN, DEFAULT = "built-in", "default"


@dataclass
class Record:
    """Per resource (``domain:d-…``, ``user-profile:NAME``, ``space:NAME``): its Code Editor
    settings before the first deploy and as the last deploy wrote them; and the LCCs made."""

    domain_id: str
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    lccs: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> {arn, runs_first}
    method: str = BUILT_IN

    def before(self, key: str) -> dict[str, Any] | None:
        """The settings ``key`` had before any deploy, if a deploy changed it."""
        entry = self.resources.get(key)
        return None if entry is None else dict(entry["before"])

    def to_json(self) -> str:
        """The record as the JSON document kept in S3 (always the current format)."""
        doc = {
            "format": FORMAT,
            "method": BUILT_IN,
            "domain_id": self.domain_id,
            "resources": self.resources,
            "lccs": self.lccs,
        }
        return json.dumps(doc, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str, where: str) -> Record:
        """Read a record (format 1 or 2); :class:`AdminError` naming ``where`` if it is not one."""
        try:
            doc = json.loads(text)
            version = doc.get("format")
            if version not in (1, FORMAT):
                raise ValueError(f"format {version!r}, expected 1 or {FORMAT}")
            method = DEFAULT if version == 1 else str(doc.get("method", BUILT_IN))
            return cls(str(doc["domain_id"]), dict(doc["resources"]), dict(doc["lccs"]), method)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise AdminError(f"deployment record {where} cannot be read: {exc}") from None
