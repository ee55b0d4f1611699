"""YAML that remembers where every value came from, with `${VAR}` expansion.

Config errors must name `FILE:LINE:COL` and the dotted path; plain `yaml.safe_load` forgets
positions, so this walks PyYAML's node tree and records one `Location` per path.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from gateway.errors import ConfigError

__all__ = [
    "Location",
    "Path",
    "Problem",
    "YamlDocument",
    "format_path",
    "read_yaml",
    "variable_names",
]

Path = tuple[str | int, ...]
_VARIABLE = re.compile(r"\$(?:\$|\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\})")


@dataclass(frozen=True, slots=True)
class Location:
    """A 1-based position in a file."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True, slots=True, order=True)
class Problem:
    """One configuration problem; problems sort in file order."""

    line: int
    col: int
    text: str

    def __str__(self) -> str:
        return self.text


def format_path(path: Path) -> str:
    """Return `path` written the way a user reads it: `routes[0].to[1]`, `channels.web.secret`."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else part
    return text


@dataclass(slots=True)
class YamlDocument:
    """Plain Python data, plus where each value and each mapping key starts."""

    file: str
    data: Any = None
    values: dict[Path, Location] = field(default_factory=dict)
    keys: dict[Path, Location] = field(default_factory=dict)
    templates: dict[Path, str] = field(default_factory=dict)
    """Values as written before `${VAR}` expansion, for those that had a variable."""

    def locate(self, path: Path, *, key: bool = False) -> Location:
        """Return where `path` is written, or where its nearest written parent is."""
        for end in range(len(path), -1, -1):
            prefix = path[:end]
            found = (self.keys.get(prefix) if key else None) or self.values.get(prefix)
            if found:
                return found
        return Location(self.file, 1, 1)

    def problem(self, path: Path, message: str, *, key: bool = False) -> Problem:
        """Return the `FILE:LINE:COL: path: message` problem at `path`."""
        where = format_path(path)
        at = self.locate(path, key=key)
        return Problem(at.line, at.col, f"{at}: {where + ': ' if where else ''}{message}")


def variable_names(template: str) -> list[str]:
    """Return the names of the `${VAR}` variables in `template`, in order."""
    return [match[1] for match in _VARIABLE.finditer(template) if match[1]]


def read_yaml(text: str, file: str, env: Mapping[str, str]) -> YamlDocument:
    """Parse `text`, expanding `${VAR}` and `${VAR:-default}` in strings; raise `ConfigError`."""
    doc = YamlDocument(file)
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file, 1, 1)
        raise ConfigError([f"{where}: invalid YAML: {exc.problem or exc.context}"]) from None
    finally:
        loader.dispose()
    problems: list[Problem] = []
    if root is not None:
        doc.data = _build(root, (), doc, loader, env, problems)
    if problems:
        raise ConfigError([str(problem) for problem in problems])
    return doc


def _location(file: str, node: yaml.Node) -> Location:
    return Location(file, node.start_mark.line + 1, node.start_mark.column + 1)


def _build(
    node: yaml.Node,
    path: Path,
    doc: YamlDocument,
    loader: yaml.SafeLoader,
    env: Mapping[str, str],
    problems: list[Problem],
) -> Any:
    doc.values[path] = _location(doc.file, node)
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node)
            if not isinstance(key, str):
                problems.append(doc.problem(path, f"keys must be strings, got {key!r}"))
                continue
            child = (*path, key)
            if key in result:
                doc.keys[child] = _location(doc.file, key_node)
                problems.append(doc.problem(child, "duplicate key", key=True))
                continue
            doc.keys[child] = _location(doc.file, key_node)
            result[key] = _build(value_node, child, doc, loader, env, problems)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _build(item, (*path, index), doc, loader, env, problems)
            for index, item in enumerate(node.value)
        ]
    value = loader.construct_object(node)
    if isinstance(value, str) and "$" in value:
        doc.templates[path] = value
        return _expand(value, path, doc, env, problems)
    return value


def _expand(
    value: str, path: Path, doc: YamlDocument, env: Mapping[str, str], problems: list[Problem]
) -> str:
    def substitute(match: re.Match[str]) -> str:
        name, default = match[1], match[2]
        if name is None:
            return "$"
        found = env.get(name)
        if found is None or (found == "" and default is not None):
            if default is not None:
                return default
            problems.append(
                doc.problem(
                    path,
                    f"environment variable {name} is not set "
                    f"(set it, or write ${{{name}:-default}} for a default)",
                )
            )
            return ""
        return found

    return _VARIABLE.sub(substitute, value)
