"""`keys_in_source` and `undocumented`: the docs-page checks plugins' `test_docs.py` use."""

from __future__ import annotations

import re

from gateway import normalize
from gateway.builtins import generic
from gateway.builtins.generic import GenericChannel, GenericSettings
from gateway.testing import keys_in_source, undocumented


def test_keys_in_source_takes_the_first_matching_group_without_placeholders() -> None:
    keys = keys_in_source(normalize, re.compile(r'return f"(\{\w+\}@)|def (normalize_\w+)\('))
    assert {"@", "normalize_phone", "normalize_email"} <= keys  # f"{local}@..." becomes "@"
    assert all(key == "@" or key.startswith("normalize_") for key in keys)
    assert keys_in_source(generic, re.compile(r"(type_name) =")) == {"type_name"}


def test_undocumented_names_each_missing_key_setting_and_type() -> None:
    page = "| `generic` | sms |\n| `secret` | ... |\nThe `caller_id` key.\n"
    missing = undocumented(
        page,
        metadata_keys=["caller_id", "referral_"],
        settings=[GenericSettings],
        channels=[GenericChannel],
    )
    assert "metadata key 'referral_'" in missing
    assert "metadata key 'caller_id'" not in missing
    assert "setting 'secret'" not in missing
    assert "setting 'type'" not in missing
    assert "type 'generic'" not in missing
    assert any(entry.startswith("setting ") for entry in missing)  # the page lists one setting
    assert undocumented(page.replace("`generic`", "generic"), channels=[GenericChannel]) == [
        "type 'generic'"
    ]
