"""The `log` backend: one line per interaction on standard output."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Literal

from gateway.plugin import (
    Backend,
    BackendRegistry,
    BackendSettings,
    Delivered,
    Delivery,
    Outcome,
    hookimpl,
)
from gateway.schema import Interaction


class LogSettings(BackendSettings):
    """Settings of the `log` backend."""

    format: Literal["json", "text"] = "json"
    """`json`: the interaction/v1 document; `text`: a short human-readable line."""


def _text_line(interaction: Interaction) -> str:
    sender = ",".join(f"{i.kind}:{i.value}" for i in interaction.sender.identities) or "-"
    text = interaction.content.text if interaction.content else None
    return (
        f"{interaction.occurred_at.isoformat()} {interaction.channel.id} {interaction.direction} "
        f"{interaction.type} from={sender} id={interaction.id} text={text!r}"
    )


class LogBackend(Backend[LogSettings]):
    """Writes each interaction to standard output, for development and audit trails."""

    type_name = "log"
    settings_model = LogSettings
    max_batch = 100

    async def deliver(self, batch: Sequence[Delivery]) -> Sequence[Outcome]:
        """Print one line per delivery."""
        render = _text_line if self.settings.format == "text" else Interaction.model_dump_json
        sys.stdout.write("".join(render(d.interaction) + "\n" for d in batch))
        sys.stdout.flush()
        return [Delivered() for _ in batch]


@hookimpl
def gateway_register_backends(registry: BackendRegistry) -> None:
    """Register the `log` backend."""
    registry.add(LogBackend)
