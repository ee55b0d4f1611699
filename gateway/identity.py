"""Identity rules: which identities may link people, how many a customer keeps, which link wins.

The identity graph itself lives in the store (it changes in the commit's transaction); this
module holds the pure decisions the store asks for, from the configuration's `identity.rules`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from gateway.normalize import canonical_identity
from gateway.schema import Identity, Interaction, Party

__all__ = [
    "DEFAULT_BLOCKED",
    "DEFAULT_LIMITS",
    "DEFAULT_PRIORITY",
    "IDENTITY_EVENTS",
    "STRONG_KINDS",
    "IdentityEvent",
    "IdentityObserver",
    "IdentityPolicy",
    "IdentityRules",
    "business_party",
    "customer_party",
    "parse_identity",
]

IdentityEvent = Literal[
    "customer_created", "merged", "proposed", "claimed", "merge_held_unverified"
]  # fmt: skip
IDENTITY_EVENTS: tuple[IdentityEvent, ...] = get_args(IdentityEvent)
IdentityObserver = Callable[[IdentityEvent], None]
"""Told of each graph change resolution makes (on the store's writer thread)."""

STRONG_KINDS = frozenset({"phone", "email"})
"""Kinds that name a person everywhere; every other kind is scoped to one provider's app."""

ANY_KIND = "*"
DEFAULT_BLOCKED: dict[str, tuple[str, ...]] = {
    ANY_KIND: (
        r"^(anonymous|unknown|restricted|private|unavailable|withheld|blocked|none|null"
        r"|undefined|n/?a)$",
    ),
    "phone": (r"^\+?0+$", r"^\+\d{1,3}0{7,}$", r"^\+(\d)\1+$"),
    "email": (
        r"^(no-?reply|do-?not-?reply|mailer-daemon|postmaster|bounces?|notifications?|support"
        r"|help|helpdesk|info|sales|contact|hello|admin|office|billing|team|service"
        r"|customer-?service|enquiries|inquiries)([+.-][^@]*)?@",
    ),
}
"""Values that never identify one person: placeholders, all-zero numbers, shared mailboxes."""
DEFAULT_LIMITS: dict[str, int] = {"phone": 5, "email": 5}
DEFAULT_PRIORITY: tuple[str, ...] = (
    "email",
    "phone",
    "whatsapp_bsuid",
    "slack_user",
    "messenger_psid",
    "instagram_id",
    "telegram_user",
    "twilio_client",
    "web_visitor",
)
_VERDICTS_MAX = 65_536
_KIND = Annotated[str, Field(pattern=r"^([a-z][a-z0-9_]*|\*)$")]


class IdentityRules(BaseModel):
    """Which identities link interactions to one customer, and when a merge needs an operator."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    blocked: dict[_KIND, list[str]] = Field(default_factory=dict)
    """Regular expressions per identity kind (`*`: every kind), searched case-insensitively;
    a matching value is ignored for matching. Added to the defaults unless `default_blocked` is
    false."""
    default_blocked: bool = True
    """Also block the built-in list: `anonymous`/`unknown`-style placeholders, all-zero and
    one-digit phone numbers, shared mailboxes like `noreply@`, `support@`, `info@`."""
    limits: dict[_KIND, Annotated[int, Field(ge=1)]] = Field(
        default_factory=lambda: dict(DEFAULT_LIMITS)
    )
    """Most identities of a kind one customer keeps; a link beyond it becomes a merge proposal."""
    priority: list[_KIND] = Field(default_factory=lambda: list(DEFAULT_PRIORITY))
    """Kinds from strongest to weakest: when an interaction's identities belong to customers
    that cannot be merged, the customer linked by the strongest kind gets the interaction."""
    trust_asserted: bool = False
    """Treat asserted identities (typed in a form, an e-mail that passed neither SPF nor DKIM)
    as verified: plain matching, as before identity trust. Off: an asserted identity never
    merges two customers, never joins a known customer's graph, and an interaction reached
    through asserted identities only carries `context.identity_claimed`."""
    merge_anonymous: bool = False
    """Merge a customer known only by provider-scoped ids (an anonymous web visitor) into the
    customer an interaction names by phone or e-mail, as CDPs do on "identify". Off: such a
    link is proposed, since a shared device would join two people."""

    @field_validator("blocked")
    @classmethod
    def _compilable(cls, blocked: dict[str, list[str]]) -> dict[str, list[str]]:
        for kind, patterns in blocked.items():
            for pattern in patterns:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise ValueError(
                        f"{kind}: {pattern!r} is not a regular expression: {exc}"
                    ) from None
        return blocked


def customer_party(interaction: Interaction) -> Party:
    """Return the customer's side: the sender of inbound traffic, the recipient of outbound."""
    return interaction.sender if interaction.direction == "inbound" else interaction.recipient


def business_party(interaction: Interaction) -> Party:
    """Return our own side: the recipient of inbound traffic, the sender of outbound."""
    return interaction.recipient if interaction.direction == "inbound" else interaction.sender


class IdentityPolicy:
    """The configured rules as the store's resolver uses them."""

    def __init__(self, rules: IdentityRules, conversation_window: timedelta) -> None:
        self.rules = rules
        self.conversation_window = conversation_window
        patterns: dict[str, list[str]] = {}
        sources = (DEFAULT_BLOCKED, rules.blocked) if rules.default_blocked else (rules.blocked,)
        for source in sources:
            for kind, kind_patterns in source.items():
                patterns.setdefault(kind, []).extend(kind_patterns)
        self._blocked = {
            kind: re.compile("|".join(f"(?:{p})" for p in kind_patterns), re.IGNORECASE)
            for kind, kind_patterns in patterns.items()
        }
        self._rank = {kind: rank for rank, kind in enumerate(rules.priority)}
        self._verdicts: dict[tuple[str, str], bool] = {}
        """Memo of `is_blocked`: customers come back, regular expressions cost microseconds."""

    def is_blocked(self, kind: str, value: str) -> bool:
        """Return True if (kind, value) never identifies one person."""
        for key in (kind, ANY_KIND):
            pattern = self._blocked.get(key)
            if pattern is not None and pattern.search(value):
                return True
        return False

    def matchable(self, identities: Iterable[Identity]) -> list[tuple[str, str]]:
        """Return the identities that may link people, once each, in the order given."""
        seen: dict[tuple[str, str], None] = {}
        verdicts = self._verdicts
        for identity in identities:
            key = (identity.kind, identity.value)
            blocked = verdicts.get(key)
            if blocked is None:
                if len(verdicts) >= _VERDICTS_MAX:
                    verdicts.clear()
                blocked = verdicts[key] = self.is_blocked(*key)
            if not blocked:
                seen[key] = None
        return list(seen)

    def verified(self, identities: Iterable[Identity]) -> set[tuple[str, str]]:
        """Return the identities to trust as verified (all of them with `trust_asserted`)."""
        trust_all = self.rules.trust_asserted
        return {(i.kind, i.value) for i in identities if trust_all or i.verified}

    def limit(self, kind: str) -> int | None:
        """Return how many identities of `kind` one customer keeps (None: no limit)."""
        return self.rules.limits.get(kind, self.rules.limits.get(ANY_KIND))

    def rank(self, kind: str) -> int:
        """Return the priority of `kind`: lower is stronger; unlisted kinds come last."""
        return self._rank.get(kind, len(self._rank))

    @staticmethod
    def can_merge(kind: str) -> bool:
        """Return True if a link through `kind` alone may merge two customers."""
        return kind in STRONG_KINDS


def parse_identity(text: str, default_region: str) -> Identity:
    """Return the canonical identity written `KIND:VALUE` (`phone:(415) 555-0100` too).

    Raise ValueError with a message for people if it names nobody.
    """
    kind, sep, value = text.partition(":")
    kind = kind.strip().lower()
    if not (sep and kind and value.strip()):
        raise ValueError(f"expected KIND:VALUE such as phone:+14155550100, got {text!r:.60}")
    found = canonical_identity(kind, value, default_region)
    if found is None:
        raise ValueError(f"{value.strip()!r:.60} is not a valid {kind:.40}")
    try:
        return Identity(kind=found[0], value=found[1])
    except ValidationError as exc:
        reason = exc.errors()[0]["msg"]
        raise ValueError(f"{text!r:.60} is not a valid identity: {reason}") from None
