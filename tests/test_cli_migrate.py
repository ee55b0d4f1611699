"""`gateway migrate`: the configured store's schema brought to this gateway's version."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import psycopg
import pytest
import yaml

from gateway.cli import main
from gateway.store.migrate import load_migrations


def write_config(tmp_path: Path, store_url: str) -> str:
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump({"storage": {"url": store_url}}))
    return str(path)


def test_migrate_applies_every_version_once(
    tmp_path: Path, store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    dialect = "sqlite" if store_url.startswith("sqlite") else "postgres"
    latest = len(load_migrations(dialect))
    config = write_config(tmp_path, store_url)

    assert main(["migrate", "--config", config]) == 0
    applied = ", ".join(str(n) for n in range(1, latest + 1))
    assert capsys.readouterr().out == f"schema version {latest} (applied {applied})\n"
    assert main(["migrate", "--config", config]) == 0
    assert capsys.readouterr().out == f"schema version {latest} (nothing to apply)\n"


def test_migrate_refuses_a_newer_schema(
    tmp_path: Path, store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, store_url)
    assert main(["migrate", "--config", config]) == 0
    if store_url.startswith("sqlite:///"):
        with closing(sqlite3.connect(store_url.removeprefix("sqlite:///"))) as conn:
            conn.execute("PRAGMA user_version = 999")
    else:
        with psycopg.connect(store_url, autocommit=True) as conn:
            conn.execute("UPDATE gateway_schema SET version = 999")
    capsys.readouterr()

    assert main(["migrate", "--config", config]) == 1
    error = capsys.readouterr().err
    assert error.startswith("gateway migrate: the database has schema version 999")
    assert "upgrade the gateway" in error
