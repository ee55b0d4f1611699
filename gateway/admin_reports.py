"""The admin API's reports: `GET /admin/reports/service` (DESIGN §13)."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from gateway.admin_http import BadRequestError, json_response, takes
from gateway.documents import service_report_document
from gateway.ingest import GATEWAY
from gateway.service_report import service_report
from gateway.settings_types import parse_duration

__all__ = ["DEFAULT_SINCE", "add_report_routes", "parse_since"]

DEFAULT_SINCE = "7d"
"""The window of a report asked without `since`."""


def add_report_routes(app: web.Application) -> None:
    """Serve the report views from the admin app."""
    app.router.add_get("/admin/reports/service", show_service_report)


def parse_since(text: str, now: datetime) -> datetime:
    """Return the start of a window written as an RFC 3339 time or a duration back from `now`
    (`7d`, `12h`); raise `BadRequestError` if it is neither, or in the future."""
    try:
        since = _moment(text) if text[:1].isdigit() and "-" in text else now - parse_duration(text)
    except (ValueError, OverflowError):
        raise BadRequestError(
            f"since must be an RFC 3339 time with an offset (2026-11-22T09:00:00Z) or a"
            f" duration back from now (30m, 24h, 7d), got {text[:64]!r}",
            "bad_since",
        ) from None
    if since > now:
        raise BadRequestError("since is in the future: the window would be empty", "bad_since")
    return since


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError("no offset")
    return moment.astimezone(UTC)


@takes("since")
async def show_service_report(request: web.Request) -> web.Response:
    """Return first responses per channel kind, chases per channel pair and unanswered
    conversations, computed from the stored interactions of the window."""
    gateway = request.app[GATEWAY]
    now = gateway.clock()
    since = parse_since(request.query.get("since", DEFAULT_SINCE), now)
    window = gateway.config.identity.conversation_window
    report = await service_report(gateway.store, since=since, until=now, window=window)
    return json_response(service_report_document(report))
