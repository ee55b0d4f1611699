"""`ChannelConformance`: the tests every channel plugin runs, by subclassing (via gateway.testing).

A plugin's test module subclasses it, names its channel class and settings and lists recorded
provider requests with the canonical interactions they must become; pytest then collects these
tests for it: every case parses to its golden interactions, a tampered body or signature header
fails verification, a blank secret refuses to start, and fuzzed payloads (random JSON and form
bodies, truncated and mutated recordings, dates and numbers at every edge) never raise anything
but `PayloadError`, and fuzzed headers never make `verify` raise anything but `SignatureError`.
"""

from __future__ import annotations

import contextlib
import json
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import urlencode

import orjson
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy

from gateway.bodies import BodyError, parse_form
from gateway.channel import Channel
from gateway.config_loader import parse_config
from gateway.errors import ConfigError, PayloadError, SignatureError
from gateway.plugins import load_plugins
from gateway.request import WebhookRequest
from gateway.schema import EARLIEST, LATEST, Interaction
from gateway.test_builders import make_channel, webhook_request

__all__ = [
    "BYTES_EXAMPLES",
    "EDGE_JSON",
    "EDGE_TEXT",
    "HEADER_EDGES",
    "ChannelCase",
    "ChannelConformance",
    "golden",
]

_FORM = "application/x-www-form-urlencoded"
_JSON = "application/json"
_FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,  # the same examples on every run: CI failures reproduce
    database=None,
    # One test function, run by every subclass (one per channel type of a plugin).
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.differing_executors],
)
BYTES_EXAMPLES = 200
"""Random, truncated and byte-flipped bodies tried per recording."""
_BYTES_FUZZ = settings(
    max_examples=BYTES_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)


HEADER_EDGES: tuple[str, ...] = (
    "", " ", "0", "-1", "+1", " 1", "1_000", "1e3", "²", "\u0661\u0662\u0663", "\uff19",
    "9" * 5000, str(2**64), str(-(2**63) - 1),
    "\udcff", "abc\udcff\udcfe", "\x00", "\x7f", "é" * 600, "x" * 9000,
    "v1,\udcff", "sha256=\udcff", "sha256=" + "0" * 64, "v1,", ",", "=",
)  # fmt: skip
"""Header values a client can send (non-UTF-8 bytes arrive surrogate-escaped, as in aiohttp)."""
EDGE_TEXT: tuple[str, ...] = (
    "", "0", "-1", "99999999999999999999", "9" * 5000, "²", "\u0661\u0662", "1e400", "NaN",
    "0001-01-01T00:00:00Z", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00",
    "9999-12-31T23:59:59Z", "1970-01-01T00:00:00Z", "10000-01-01T00:00:00Z",
    "Mon, 01 Jan 0001 00:00:00 +0100", "31 Dec 9999 23:59:59 -0100", "31 Dec 9999 -0100",
    str(2**63), str(-62135596800), str(253402300800),
)  # fmt: skip
EDGE_JSON: tuple[Any, ...] = (
    *EDGE_TEXT, 0, -1, 2**63, -(2**63) - 1, 2**64, 10**30, -62135596800, -62135596800000,
    253402214400, 253402300800, 253402300800000, 1e308, -1e308, True, None, [], {},
)  # fmt: skip
"""Dates and numbers at and beyond every edge: epoch 0, year 1 and 9999 with offsets, 2^63."""


@dataclass(frozen=True, slots=True)
class ChannelCase:
    """A recorded provider request, signed as the provider signs it, and what it must become."""

    name: str
    request: WebhookRequest
    expected: Sequence[Mapping[str, Any]]
    """The canonical interactions, as `golden()` writes them (JSON form without `id`)."""


def golden(interaction: Interaction) -> dict[str, Any]:
    """Return the comparable form of an interaction: its JSON form without the random `id`."""
    return interaction.model_dump(mode="json", exclude={"id"})


def _body_request(req: WebhookRequest, body: bytes, content_type: str) -> WebhookRequest:
    """Return `req` with another body (and the form parsed from it, if form-encoded)."""
    headers = {k: v for k, v in req.headers.items() if k.lower() != "content-type"}
    return webhook_request(
        body,
        method=req.method,
        url=req.url,
        headers=headers,
        content_type=content_type,
        received_at=req.received_at,
    )


def _mutations(value: Any) -> list[Callable[[Any], Any]]:
    """Return functions replacing one node of `value` (a JSON document) by something else."""
    paths: list[tuple[Any, ...]] = []

    def walk(node: Any, path: tuple[Any, ...]) -> None:
        paths.append(path)
        if isinstance(node, dict):
            for key, child in node.items():
                walk(child, (*path, key))
        elif isinstance(node, list):
            for index, child in enumerate(node):
                walk(child, (*path, index))

    walk(value, ())

    def setter(path: tuple[Any, ...]) -> Callable[[Any], Any]:
        def put(new: Any) -> Any:
            if not path:
                return new
            document = json.loads(json.dumps(value))
            node = document
            for step in path[:-1]:
                node = node[step]
            node[path[-1]] = new
            return document

        return put

    return [setter(path) for path in paths]


class ChannelConformance:
    """Subclass as `class TestMyChannelConformance(ChannelConformance)` and fill in:

    - `channel_type`: the channel class; `settings`: a valid settings block (no `type`);
    - `secret_fields`: the settings keys holding secrets (each, left blank, must refuse to start);
    - `signature_headers`: the headers carrying the signature;
    - `cases()`: recorded requests, signed with `settings`' secrets, and their golden output.

    The channel under test gets `clock = the case's received_at`, so recorded timestamps stay
    inside replay windows.
    """

    channel_type: ClassVar[type[Channel[Any]]]
    settings: ClassVar[Mapping[str, Any]]
    secret_fields: ClassVar[Sequence[str]]
    signature_headers: ClassVar[Sequence[str]]
    channel_id: ClassVar[str] = "conformance"

    def cases(self) -> Sequence[ChannelCase]:
        """Return the recorded requests and their golden interactions."""
        raise NotImplementedError

    def channel(self, now: datetime) -> Channel[Any]:
        """Return the channel under test, its clock stopped at `now`."""
        return make_channel(
            self.channel_type, self.settings, channel_id=self.channel_id, clock=lambda: now
        )

    def test_cases_parse_to_golden_interactions(self) -> None:
        """Every recorded request verifies and parses to exactly its golden interactions."""
        cases = self.cases()
        assert cases, "cases() returned no recorded requests"
        for case in cases:
            channel = self.channel(case.request.received_at)
            channel.verify(case.request)
            parsed = [golden(interaction) for interaction in channel.parse(case.request)]
            assert parsed == list(case.expected), f"case {case.name!r}"

    def test_a_tampered_body_fails_verification(self) -> None:
        """Changing one byte of the body makes the signature wrong."""
        for case in self._with_body():
            body = bytearray(case.request.body)
            middle = len(body) // 2
            body[middle] = ord("A") if body[middle] != ord("A") else ord("B")
            content_type = case.request.headers.get("Content-Type", _JSON)
            tampered = _body_request(case.request, bytes(body), content_type)
            with pytest.raises(SignatureError):
                self.channel(case.request.received_at).verify(tampered)

    def test_a_tampered_or_missing_signature_fails_verification(self) -> None:
        """A changed or missing signature header fails, naming no secret."""
        for case in self.cases():
            for header in self.signature_headers:
                value = case.request.headers.get(header)
                assert value, f"case {case.name!r} has no {header} header"
                changed = value[:-2] + ("AA" if not value.endswith("AA") else "BB")
                for headers in (
                    {**case.request.headers, header: changed},
                    {k: v for k, v in case.request.headers.items() if k.lower() != header.lower()},
                ):
                    tampered = replace(case.request, headers=_headers(headers))
                    with pytest.raises(SignatureError) as caught:
                        self.channel(case.request.received_at).verify(tampered)
                    for field in self.secret_fields:
                        secret = str(self.settings[field])
                        assert secret not in str(caught.value), "the error shows a secret"

    def test_a_blank_secret_refuses_to_start(self) -> None:
        """A channel block with any of its secrets blank is a configuration error."""
        plugins = load_plugins()
        type_name = self.channel_type.type_name
        assert type_name in plugins.channels, f"{type_name} is not registered by any plugin"
        for field in self.secret_fields:
            block = {"type": type_name, **self.settings, field: ""}
            text = yaml.safe_dump({"channels": {self.channel_id: block}})
            with pytest.raises(ConfigError) as caught:
                parse_config(text, "conformance.yaml", plugins, {})
            assert any(self.channel_id in problem for problem in caught.value.problems)

    @_FUZZ
    @given(data=st.data())
    def test_fuzzed_payloads_raise_only_payload_errors(self, data: st.DataObject) -> None:
        """Random, truncated and mutated bodies parse or raise `PayloadError`, nothing else."""
        case = data.draw(st.sampled_from(list(self.cases())))
        content_type = case.request.headers.get("Content-Type", _JSON).partition(";")[0]
        kind = data.draw(st.sampled_from(["random", "truncated", "mutated"]))
        if kind == "truncated":
            body = case.request.body[: data.draw(st.integers(0, len(case.request.body)))]
        elif content_type == _FORM:
            pairs = list(case.request.form.items()) if case.request.form else []
            if kind == "mutated" and pairs:
                index = data.draw(st.integers(0, len(pairs) - 1))
                new = data.draw(st.none() | st.text(max_size=40))
                kept = [] if new is None else [(pairs[index][0], new)]
                pairs = [*pairs[:index], *kept, *pairs[index + 1 :]]
            else:
                pairs = data.draw(st.lists(st.tuples(st.text(max_size=20), st.text(max_size=40))))
            body = urlencode(pairs).encode()
        elif kind == "mutated":
            document = json.loads(case.request.body)
            put = data.draw(st.sampled_from(_mutations(document)))
            body = json.dumps(put(data.draw(_json_values))).encode()
        else:
            body = json.dumps(data.draw(_json_values)).encode()
        fuzzed = _body_request(case.request, body, content_type)
        with contextlib.suppress(PayloadError):
            _check_storable(self.channel(case.request.received_at).parse(fuzzed))

    def test_random_and_damaged_bytes_raise_only_client_errors(self) -> None:
        """Per recording, `BYTES_EXAMPLES` bodies of random bytes, truncations and byte flips,
        sent with the recording's content type: `parse` returns interactions that validate,
        serialise and lie inside the bounds, or raises `PayloadError` (a 400 or 422, never a
        5xx). A form body the server cannot decode is its 400, before any channel sees it."""
        for case in self._with_body():
            _parse_damaged_bodies(self.channel(case.request.received_at), case.request)

    def test_fuzzed_headers_raise_only_signature_errors(self) -> None:
        """Every header, set to odd bytes, digits or huge values: `verify` passes or raises
        `SignatureError`, and a request that still verifies parses or raises `PayloadError`."""
        rng = random.Random(10)
        for case in self.cases():
            names = {name.lower() for name in (*case.request.headers, *self.signature_headers)}
            for name in sorted(names):
                noise = [_random_header(rng) for _ in range(8)]
                for value in (None, *HEADER_EDGES, *noise):
                    headers = CIMultiDict(case.request.headers)
                    headers.popall(name, None)
                    if value is not None:
                        headers[name] = value
                    fuzzed = replace(case.request, headers=CIMultiDictProxy(headers))
                    channel = self.channel(case.request.received_at)
                    try:
                        channel.verify(fuzzed)
                    except SignatureError:
                        continue
                    with contextlib.suppress(PayloadError):
                        _check_storable(channel.parse(fuzzed))

    def test_date_and_number_edges_parse_or_raise_payload_errors(self) -> None:
        """Each value of each recording, set to a date or number at or beyond an edge (year 1,
        9999 with an offset, epoch 0, 2^63, 5,000 digits): `parse` raises `PayloadError` or
        returns interactions inside the schema's bounds that serialise."""
        for case in self._with_body():
            channel = self.channel(case.request.received_at)
            for body, content_type in _edge_bodies(case.request):
                with contextlib.suppress(PayloadError):
                    _check_storable(channel.parse(_body_request(case.request, body, content_type)))

    def _with_body(self) -> list[ChannelCase]:
        cases = [case for case in self.cases() if case.request.body]
        assert cases, "no recorded request has a body"
        return cases


def _parse_damaged_bodies(channel: Channel[Any], recorded: WebhookRequest) -> None:
    """Parse `BYTES_EXAMPLES` damaged versions of `recorded`; see the test that calls it."""

    @_BYTES_FUZZ
    @given(body=_damaged(recorded.body))
    def parse_damaged(body: bytes) -> None:
        try:
            form = parse_form(body) if recorded.form is not None else None
        except BodyError:
            return
        # `PayloadError` only takes 400 and 422: the host never answers it with a 5xx.
        with contextlib.suppress(PayloadError):
            _check_storable(channel.parse(replace(recorded, body=body, form=form)))

    parse_damaged()


def _damaged(body: bytes) -> st.SearchStrategy[bytes]:
    """Return random bytes, `body` cut short, or `body` with a few bytes changed."""

    def flipped(changes: list[tuple[int, int]]) -> bytes:
        damaged = bytearray(body)
        for position, mask in changes:
            damaged[position % len(damaged)] ^= mask
        return bytes(damaged)

    cuts = st.integers(0, len(body)).map(lambda end: body[:end])
    changes = st.lists(
        st.tuples(st.integers(0, 2**16), st.integers(1, 255)), min_size=1, max_size=8
    )
    return st.one_of(st.binary(max_size=2048), cuts, changes.map(flipped))


def _random_header(rng: random.Random) -> str:
    """Return random bytes as the server hands them over (non-UTF-8 surrogate-escaped)."""
    raw = bytes(rng.randrange(32, 256) for _ in range(rng.randrange(1, 80)))
    return raw.decode("utf-8", "surrogateescape")


def _edge_bodies(req: WebhookRequest) -> list[tuple[bytes, str]]:
    """Return `req`'s body with one value at a time replaced by each edge value."""
    if req.content_type == _FORM:
        pairs = list(req.form.items()) if req.form else []
        return [
            (
                urlencode([*pairs[:index], (pairs[index][0], edge), *pairs[index + 1 :]]).encode(),
                _FORM,
            )
            for index in range(len(pairs))
            for edge in EDGE_TEXT
        ]
    document = json.loads(req.body)
    return [
        (json.dumps(put(edge)).encode(), req.content_type or _JSON)
        for put in _mutations(document)[1:]
        for edge in EDGE_JSON
    ]


def _check_storable(interactions: Sequence[Interaction]) -> None:
    """Fail unless each interaction validates again, serialises, and lies inside the bounds."""
    for interaction in interactions:
        again = Interaction.model_validate_json(interaction.model_dump_json())
        orjson.dumps(again.model_dump(mode="json"))
        for moment in (again.occurred_at, again.received_at):
            assert EARLIEST < moment < LATEST, f"{moment} is out of range"


def _headers(headers: Mapping[str, str]) -> CIMultiDictProxy[str]:
    return CIMultiDictProxy(CIMultiDict(headers))
