"""The service report's fold and percentiles (DESIGN §13), without a store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gateway.service_events import Contact
from gateway.service_report import fold_contacts, percentile

NINE = datetime(2026, 11, 22, 9, tzinfo=UTC)
DAY = timedelta(hours=24)


def at(hours: float) -> datetime:
    return NINE + timedelta(hours=hours)


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 11)]
    assert percentile(values, 0.5) == 5
    assert percentile(values, 0.9) == 9
    assert percentile([42.0], 0.9) == 42
    with pytest.raises(ValueError, match="no values"):
        percentile([], 0.5)


def test_the_fold_keeps_conversations_apart_and_counts_what_happened_since() -> None:
    contacts = [
        ("a", Contact("inbound", "email", at(0), automated=False)),
        ("b", Contact("inbound", "sms", at(1), automated=False)),
        ("a", Contact("inbound", "voice", at(6), automated=False)),
        ("a", Contact("outbound", "voice", at(6.5), automated=False)),
        ("b", Contact("inbound", "sms", at(7), automated=False)),
        ("c", Contact("inbound", "webchat", at(8), automated=False)),
    ]
    report = fold_contacts(contacts, since=at(2), until=at(10), window=DAY)
    assert report.chases == {("email", "voice"): 1}
    assert report.first_responses == {"email": [6.5 * 3600]}
    assert report.unanswered == 2  # b and c wait
    late = fold_contacts(contacts, since=at(6.25), until=at(31.5), window=DAY)
    assert late.chases == {}
    assert late.first_responses == {"email": [6.5 * 3600]}
    assert late.unanswered == 1  # b went quiet more than a day before: no longer open
