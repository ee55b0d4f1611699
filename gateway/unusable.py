"""Identity values that name nobody: left out of matching, kept in `metadata`, counted.

A withheld caller (`anonymous`, Twilio's `+266696687`), an empty value or a malformed e-mail
must not lose the interaction it came with. `split_party` takes a party as a channel builds it
(identities as `{"kind", "value"}` mappings, provider spelling) and returns it with canonical
identities only, plus the values it left out; `Channel.interaction` calls it for every channel,
writes the left-out values under `metadata["unusable_identities"]` and reports each to
`ChannelContext.on_unusable` (the `gateway_identities_unusable_total` metric).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any, Final, Literal, get_args

from pydantic import ValidationError

from gateway.identity import DEFAULT_PRIORITY
from gateway.normalize import canonical_identity
from gateway.schema import MAX_METADATA, MAX_SHORT, Identity

__all__ = [
    "UNUSABLE_KEY",
    "UNUSABLE_REASONS",
    "WITHHELD_NUMBERS",
    "WITHHELD_WORDS",
    "UnusableIdentity",
    "UnusableReason",
    "metric_kind",
    "split_parties",
    "split_party",
    "unusable_metadata",
]

UNUSABLE_KEY: Final = "unusable_identities"
"""The `metadata` key holding the left-out identities, a JSON array of `UnusableIdentity`."""
UnusableReason = Literal["empty", "withheld", "invalid"]
UNUSABLE_REASONS: Final[tuple[str, ...]] = get_args(UnusableReason)
WITHHELD_WORDS: Final = frozenset(
    {"anonymous", "unknown", "restricted", "private", "unavailable", "withheld", "blocked"}
)
"""How phone systems write a caller who hid their number."""
_KEYPAD = str.maketrans("abcdefghijklmnopqrstuvwxyz", "22233344455566677778889999")
WITHHELD_NUMBERS: Final = frozenset("+" + word.translate(_KEYPAD) for word in WITHHELD_WORDS)
"""The same words spelt on a phone keypad, as carriers and Twilio write them:
`+266696687` is ANONYMOUS, `+7378742833` RESTRICTED, `+8656696` UNKNOWN."""
MAX_KEPT_VALUE: Final = 256
"""Longest value kept in metadata (longer ones are cut): the whole entry must fit `MAX_SHORT`."""
_KINDS: Final = frozenset({"phone", "email", *DEFAULT_PRIORITY})
_PARTIES: Final = ("sender", "recipient")
_MAPPINGS: Final = (dict, Mapping)
"""`Mapping` with `dict` first: JSON gives dicts, and the ABC's own check costs five times more."""


@dataclass(frozen=True, slots=True)
class UnusableIdentity:
    """An identity a provider sent that names nobody, and why."""

    party: str
    """`sender` or `recipient`."""
    kind: str
    value: str
    """As the provider wrote it, cut to `MAX_KEPT_VALUE` characters."""
    reason: UnusableReason
    """`empty`, `withheld` (a hidden caller) or `invalid` (the normaliser refuses it)."""


def metric_kind(kind: str) -> str:
    """Return `kind` as a metric label: a known kind, else `other` (labels stay bounded)."""
    return kind if kind in _KINDS else "other"


@lru_cache(maxsize=16_384)
def _classify(kind: str, value: str, region: str, verified: bool) -> Identity | UnusableReason:
    """Return the canonical identity of `value`, or why it names nobody. Cached: the same
    customers write again and again, and an `Identity` is immutable."""
    text = value.strip()
    if not text:
        return "empty"
    if text.lower() in WITHHELD_WORDS or "+" + text.removeprefix("+") in WITHHELD_NUMBERS:
        return "withheld"
    found = canonical_identity(kind, text, region)
    if found is None:
        return "invalid"
    if found[1] in WITHHELD_NUMBERS:
        return "withheld"
    try:
        return Identity(kind=found[0], value=found[1], verified=verified)
    except ValidationError:  # a kind the schema refuses, a value over its length
        return "invalid"


def split_party(
    role: str, party: Any, region: str, *, asserted: bool = False
) -> tuple[Any, list[UnusableIdentity]]:
    """Return `party` with its mapping identities canonical or left out, and those left out.

    A mapping may say `"verified": false` (asserted; default true); `asserted` makes every
    identity asserted, whatever it says. Identities that are not `{"kind": str, "value": str}`
    mappings with a boolean `verified` (already an `Identity`, or malformed) stay as they are,
    for validation to judge (an `Identity` marked asserted if `asserted`).
    """
    if not isinstance(party, _MAPPINGS) or not isinstance(party.get("identities"), list):
        return party, []
    kept: list[Any] = []
    unusable: list[UnusableIdentity] = []
    for identity in party["identities"]:
        if isinstance(identity, _MAPPINGS):
            kind, value = identity.get("kind"), identity.get("value")
            verified = identity.get("verified", True)
        else:
            kind = value = verified = None
        if not (isinstance(kind, str) and isinstance(value, str) and isinstance(verified, bool)):
            if asserted and isinstance(identity, Identity) and identity.verified:
                identity = identity.model_copy(update={"verified": False})
            kept.append(identity)
            continue
        verdict = _classify(kind, value, region, verified and not asserted)
        if isinstance(verdict, Identity):
            kept.append(verdict)
        else:
            unusable.append(UnusableIdentity(role, kind[:64], value[:MAX_KEPT_VALUE], verdict))
    return {**party, "identities": kept}, unusable


def split_parties(
    fields: Mapping[str, Any], region: str, *, asserted: bool = False
) -> tuple[dict[str, Any], list[UnusableIdentity]]:
    """Return interaction `fields` with both parties split, and every identity left out."""
    split = dict(fields)
    unusable: list[UnusableIdentity] = []
    for role in _PARTIES:
        if role in split:
            split[role], found = split_party(role, split[role], region, asserted=asserted)
            unusable.extend(found)
    return split, unusable


def unusable_metadata(metadata: Any, unusable: Sequence[UnusableIdentity]) -> Any:
    """Return `metadata` with `unusable` under `UNUSABLE_KEY`, as many as fit `MAX_SHORT`.

    Left as it is when nothing was left out, when it is not a mapping (validation reports
    that), or when it already holds `MAX_METADATA` other entries.
    """
    if not unusable or not isinstance(metadata, Mapping | None):
        return metadata
    found = dict(metadata or {})
    if UNUSABLE_KEY not in found and len(found) >= MAX_METADATA:
        return metadata
    entries: list[dict[str, str]] = []
    text = "[]"
    for item in unusable:
        longer = json.dumps([*entries, asdict(item)], ensure_ascii=False)
        if len(longer) > MAX_SHORT:
            break
        entries.append(asdict(item))
        text = longer
    found[UNUSABLE_KEY] = text
    return found
