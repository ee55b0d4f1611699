"""Typed reads from Meta's JSON bodies: the core's `Node`, and `put` for metadata."""

from __future__ import annotations

from gateway.json_body import Node, put

__all__ = ["Node", "put"]
