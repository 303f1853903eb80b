"""The deployment record: what a deploy changed, kept in S3 beside the wheelhouse, so that
``undeploy`` can put back each setting as it was (the before-image) and knows its own LCCs."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .failures import AdminError

__all__ = ["FORMAT", "Record"]

FORMAT = 1


@dataclass
class Record:
    """Per resource (``domain:d-…``, ``user-profile:NAME``, ``space:NAME``): its Code Editor
    settings before the first deploy and as the last deploy wrote them; and the LCCs made."""

    domain_id: str
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    lccs: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> {arn, chains}

    def before(self, key: str) -> dict[str, Any] | None:
        """The settings ``key`` had before any deploy, if a deploy changed it."""
        entry = self.resources.get(key)
        return None if entry is None else dict(entry["before"])

    def to_json(self) -> str:
        """The record as the JSON document kept in S3."""
        doc = {
            "format": FORMAT,
            "domain_id": self.domain_id,
            "resources": self.resources,
            "lccs": self.lccs,
        }
        return json.dumps(doc, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str, where: str) -> Record:
        """Read a record; :class:`AdminError` naming ``where`` if it is not one."""
        try:
            doc = json.loads(text)
            if doc.get("format") != FORMAT:
                raise ValueError(f"format {doc.get('format')!r}, expected {FORMAT}")
            return cls(str(doc["domain_id"]), dict(doc["resources"]), dict(doc["lccs"]))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise AdminError(f"deployment record {where} cannot be read: {exc}") from None
