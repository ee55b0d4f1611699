"""Checks that a plugin's docs page names what its code defines (for its `tests/test_docs.py`)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from pydantic import BaseModel

from gateway.channel import Channel

_PLACEHOLDER = re.compile(r"\{\w+\}")


def keys_in_source(package: ModuleType, pattern: re.Pattern[str]) -> set[str]:
    """Return the names `pattern` finds in the package's modules: the first non-empty group of
    each match, `{placeholders}` of f-strings removed (`"file_id_{index}"` becomes `file_id_`)."""
    keys = set()
    for path in Path(str(package.__file__)).parent.glob("*.py"):
        for match in pattern.finditer(path.read_text(encoding="utf-8")):
            key = next(group for group in match.groups() if group)
            keys.add(_PLACEHOLDER.sub("", key))
    return keys


def undocumented(
    doc: str,
    *,
    metadata_keys: Iterable[str] = (),
    settings: Sequence[type[BaseModel]] = (),
    channels: Sequence[type[Channel[Any]]] = (),
) -> list[str]:
    """Return what `doc` (a page's text) leaves out: each metadata key (named as `` `key``),
    settings field and channel type (each named in the first cell of a table row)."""
    missing = [f"metadata key {key!r}" for key in sorted(metadata_keys) if f"`{key}" not in doc]
    missing += [
        f"setting {name!r}"
        for model in settings
        for name in model.model_fields
        if name != "type" and f"| `{name}` |" not in doc
    ]
    missing += [f"type {c.type_name!r}" for c in channels if f"| `{c.type_name}` |" not in doc]
    return missing
