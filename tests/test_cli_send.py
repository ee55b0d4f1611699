"""`gateway send`'s options make the same request body as `POST /admin/messages` takes.

Queueing and sending are tested per sending channel (plugins/*/tests/test_send*.py); here: the
options, and the bad ones refused with exit code 2 before the store is opened.
"""

from __future__ import annotations

import pytest

from gateway.cli import _parser, main
from gateway.cli_send import message_request


def request_of(*argv: str) -> dict[str, object]:
    args = _parser().parse_args(["send", *argv])
    return message_request(args).model_dump(exclude_none=True)


def test_text_reply_to_an_interaction() -> None:
    assert request_of("--reply-to", "01J", "--text", "On it", "--subject", "Re: order") == {
        "to": {"interaction_id": "01J"},
        "content": {"text": "On it", "subject": "Re: order", "attachments": []},
    }


def test_template_with_parameters_and_a_tag() -> None:
    argv = ["--customer", "cus_1", "--channel", "wa", "--template", "order_update"]
    argv += ["--language", "es", "--param", "Ana", "--param", "42", "--tag", "HUMAN_AGENT"]
    assert request_of(*argv) == {
        "to": {"customer_id": "cus_1"},
        "channel": "wa",
        "template": {"name": "order_update", "language": "es", "parameters": ["Ana", "42"]},
        "tag": "HUMAN_AGENT",
    }


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (["--customer", "cus_1"], "give content.text (or content.attachments), or a template"),
        (["--customer", "cus_1", "--text", "x", "--param", "1"], "go with --template"),
        (["--customer", "cus_1", "--text", "x", "--tag", ""], "tag: String should have"),
    ],
)
def test_bad_options_exit_2_naming_the_problem(
    argv: list[str], problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["send", *argv, "--config", "/nonexistent/gateway.yaml"]) == 2
    assert problem in capsys.readouterr().err
