"""Configuration errors in plain words: pydantic's error types rewritten for people editing YAML."""

from __future__ import annotations

import difflib
import types
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic_core import ErrorDetails

from gateway.config import NAME_PATTERN

__all__ = ["allowed_keys", "did_you_mean", "human_message"]

_URL_EXAMPLE = "https://crm.example.com/hook"
_PATTERNS = {
    NAME_PATTERN: "must be 1 to 64 letters, digits, '_', '.' or '-', starting with a letter "
    "or digit",
    r"^[A-Z]{2}$": "must be a two-letter region code (ISO 3166 alpha-2) such as US or GB",
}


def _expected(ctx: Mapping[str, Any]) -> str:
    return f"must be {ctx.get('expected', 'one of the documented values')}"


_MESSAGES: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "missing": lambda _: "required key is missing",
    "extra_forbidden": lambda _: "unknown key",
    "url_parsing": lambda _: f"must be an absolute URL such as {_URL_EXAMPLE}",
    "url_type": lambda _: f"must be an absolute URL such as {_URL_EXAMPLE}",
    "url_syntax_violation": lambda _: f"must be an absolute URL such as {_URL_EXAMPLE}",
    "url_scheme": lambda c: f"must be a {c.get('expected_schemes')} URL such as {_URL_EXAMPLE}",
    "url_too_long": lambda c: f"must be a URL of at most {c.get('max_length')} characters",
    "int_parsing": lambda _: "must be a whole number",
    "int_type": lambda _: "must be a whole number",
    "int_from_float": lambda _: "must be a whole number, without a fraction",
    "float_parsing": lambda _: "must be a number",
    "float_type": lambda _: "must be a number",
    "bool_parsing": lambda _: "must be true or false",
    "bool_type": lambda _: "must be true or false",
    "string_type": lambda _: "must be a string (put it in quotes)",
    "literal_error": _expected,
    "enum": _expected,
    "greater_than": lambda c: f"must be greater than {c.get('gt')}",
    "greater_than_equal": lambda c: f"must be at least {c.get('ge')}",
    "less_than": lambda c: f"must be less than {c.get('lt')}",
    "less_than_equal": lambda c: f"must be at most {c.get('le')}",
    "string_too_short": lambda c: f"must be at least {c.get('min_length')} characters long",
    "string_too_long": lambda c: f"must be at most {c.get('max_length')} characters long",
    "too_short": lambda c: f"must have at least {c.get('min_length')} items",
    "too_long": lambda c: f"must have at most {c.get('max_length')} items",
    "string_pattern_mismatch": lambda c: _PATTERNS.get(
        str(c.get("pattern")), f"must match the pattern '{c.get('pattern')}'"
    ),
    "dict_type": lambda _: "must be a mapping of keys to values",
    "model_type": lambda _: "must be a mapping of keys to values",
    "model_attributes_type": lambda _: "must be a mapping of keys to values",
    "list_type": lambda _: "must be a list",
}


def human_message(error: ErrorDetails) -> str:
    """Return the message for one pydantic error, in the words of the configuration reference."""
    make = _MESSAGES.get(error["type"])
    if make is not None:
        return make(error.get("ctx") or {})
    return error["msg"].removeprefix("Value error, ")


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return ` Did you mean 'X'?` for the closest of `choices` to `word`, or ``."""
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" Did you mean '{close[0]}'?" if close else ""


def allowed_keys(model: type[BaseModel], location: Sequence[str | int]) -> list[str]:
    """Return the keys the mapping at `location` (relative to `model`) accepts, or []."""
    annotation: Any = model
    for part in location:
        annotation = _step(annotation, part)
        if annotation is None:
            return []
    found = _model(annotation)
    return [f.alias or name for name, f in found.model_fields.items()] if found else []


def _step(annotation: Any, part: str | int) -> Any:
    """Return the annotation of the value `part` selects inside a value of `annotation`."""
    annotation = _unwrap(annotation)
    if (model := _model(annotation)) is not None:
        if not isinstance(part, str):
            return None
        for name, field in model.model_fields.items():
            if part in (name, field.alias):
                return field.annotation
        return None
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is list and isinstance(part, int):
        return args[0]
    if origin is dict and isinstance(part, str):
        return args[1]
    return None


def _unwrap(annotation: Any) -> Any:
    """Strip `Annotated[...]` and `X | None`, preferring the member that is a model or container."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            members = [arg for arg in get_args(annotation) if arg is not type(None)]
            structured = [m for m in members if _model(m) or get_origin(_strip(m)) in (list, dict)]
            annotation = (structured or members)[0]
        else:
            return annotation


def _strip(annotation: Any) -> Any:
    return get_args(annotation)[0] if get_origin(annotation) is Annotated else annotation


def _model(annotation: Any) -> type[BaseModel] | None:
    annotation = _strip(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None
