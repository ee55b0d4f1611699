"""The enricher contract: a pure per-interaction transform run before the commit."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from gateway.schema import Interaction

__all__ = ["Enricher", "EnricherSettings"]


class EnricherSettings(BaseModel):
    """Settings every enricher takes; an enricher's `settings_model` subclasses this."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    type: str
    """The enricher type."""


SettingsT = TypeVar("SettingsT", bound=EnricherSettings)


class Enricher(ABC, Generic[SettingsT]):
    """Transforms each interaction (redaction, tagging) on the ingest path: no I/O, be quick."""

    type_name: ClassVar[str]
    settings_model: ClassVar[type[EnricherSettings]]

    def __init__(self, name: str, settings: SettingsT) -> None:
        self.name = name
        self.settings = settings

    @abstractmethod
    def enrich(self, interaction: Interaction) -> Interaction:
        """Return `interaction`, changed as this enricher sees fit (use `model_copy`)."""
