"""/healthz (the service and its database answer) and /metrics (Prometheus, counted from
the database at each scrape, so every process agrees)."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy import text as sql_text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col

from feeds.api.guards import GuardedRoute
from feeds.api.models import Health
from feeds.settings import ServiceSettings
from storage import Change, Check, Item, Source, Version, queries, source_queries, stats

LATENCY_WINDOW = 1000  # fetch latency quantiles are over this many most recent checks
LATENCY_QUANTILES = (0.5, 0.9, 0.99)
CHECK_OUTCOMES = ("changed", "unchanged", "not_modified", "error")
CHANGE_KINDS = (
    "created",
    "edited",
    "removed",
    "restored",
    "headline_test",
    "headline_flip",
    "shown",
)
VERSION_ORIGINS = ("observed", "page-history", "import")

router = APIRouter(route_class=GuardedRoute)


@router.get(
    "/healthz",
    response_model=Health,
    response_model_exclude_none=True,
    responses={503: {"model": Health, "description": "the database does not answer"}},
    tags=["service"],
)
def healthz(request: Request) -> Any:
    """Liveness and the database: 200 {"status": "ok"}, or 503 when the database fails."""
    engine: Engine = request.app.state.engine
    try:
        with engine.connect() as connection:
            connection.execute(sql_text("SELECT 1"))
    except SQLAlchemyError as error:
        detail = f"database unavailable: {type(error).__name__}"
        return JSONResponse({"status": "error", "detail": detail}, status_code=503)
    return Health(status="ok")


class DatabaseCollector:
    """Counts read from the database at each scrape, so every process agrees with it."""

    def __init__(self, engine: Engine, failing_after: int = 3) -> None:
        self.engine, self.failing_after = engine, failing_after

    def collect(self) -> Iterator[Metric]:
        with Session(self.engine) as session:
            yield from _database_metrics(session, self.failing_after)


def _labelled(
    family: CounterMetricFamily | GaugeMetricFamily, known: Sequence[str], counts: dict
) -> CounterMetricFamily | GaugeMetricFamily:
    for value in [*known, *sorted(str(v) for v in counts if v not in known)]:
        family.add_metric([value], counts.get(value, 0))
    return family


def _database_metrics(session: Session, failing_after: int) -> Iterator[Metric]:
    checks = queries.counts_by(session, col(Check.outcome))
    yield _labelled(
        CounterMetricFamily("redline_checks", "Checks of sources, by outcome.", labels=["outcome"]),
        CHECK_OUTCOMES,
        checks,
    )
    yield CounterMetricFamily(
        "redline_check_errors",
        "Checks that failed (fetch, size, parse errors), as redline_checks{outcome=error}.",
        value=checks.get("error", 0),
    )
    yield _labelled(
        CounterMetricFamily("redline_versions", "Versions stored, by origin.", labels=["origin"]),
        VERSION_ORIGINS,
        queries.counts_by(session, col(Version.origin)),
    )
    yield _labelled(
        CounterMetricFamily(
            "redline_changes", "Changes in the edit log, by kind.", labels=["kind"]
        ),
        CHANGE_KINDS,
        queries.counts_by(session, col(Change.kind)),
    )
    retired = queries.count_rows(session, Source, col(Source.retired_at).is_not(None))
    enabled = queries.count_rows(
        session, Source, col(Source.enabled).is_(True), col(Source.retired_at).is_(None)
    )
    sources = GaugeMetricFamily(
        "redline_sources",
        "Sources, by state: enabled (checked), retired (never due again), disabled.",
        labels=["state"],
    )
    sources.add_metric(["enabled"], enabled)
    sources.add_metric(["retired"], retired)
    sources.add_metric(["disabled"], queries.count_rows(session, Source) - enabled - retired)
    yield sources
    yield GaugeMetricFamily(
        "redline_sources_failing",
        f"Sources failing as `redline status` says: active (enabled, not retired), with "
        f"{failing_after} or more errors in a row ([daemon] failing_after).",
        value=len(stats.failing_sources(session, failing_after)),
    )
    items = GaugeMetricFamily("redline_items", "Items, by state.", labels=["state"])
    removed = queries.count_rows(session, Item, col(Item.removed_at).is_not(None))
    items.add_metric(["listed"], queries.count_rows(session, Item) - removed)
    items.add_metric(["removed"], removed)
    yield items
    last = source_queries.last_check_finished(session)
    if last is not None:
        yield GaugeMetricFamily(
            "redline_last_check_finished_timestamp_seconds",
            "When the most recent check finished (Unix time).",
            value=last.timestamp(),
        )
    yield _latency_summary(session)


def _latency_summary(session: Session) -> Metric:
    """Quantiles over the most recent LATENCY_WINDOW checks; count and sum over all checks."""
    latency = Metric(
        "redline_fetch_latency_seconds",
        f"Check duration (finished_at - started_at); quantiles over the last "
        f"{LATENCY_WINDOW} checks, count and sum over all.",
        "summary",
    )
    seconds = sorted(
        max(0.0, (finished - started).total_seconds())
        for started, finished in source_queries.recent_check_times(session, LATENCY_WINDOW)
    )
    for quantile in LATENCY_QUANTILES:  # nearest rank
        value = seconds[max(0, math.ceil(quantile * len(seconds)) - 1)] if seconds else math.nan
        latency.add_sample("redline_fetch_latency_seconds", {"quantile": str(quantile)}, value)
    latency.add_sample(
        "redline_fetch_latency_seconds_count", {}, float(queries.count_rows(session, Check))
    )
    latency.add_sample(
        "redline_fetch_latency_seconds_sum", {}, source_queries.check_seconds_total(session)
    )
    return latency


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
    tags=["service"],
)
def metrics(request: Request) -> Response:
    """Prometheus metrics, counted from the database at each scrape."""
    registry = CollectorRegistry(auto_describe=False)
    settings: ServiceSettings = request.app.state.settings
    registry.register(DatabaseCollector(request.app.state.engine, settings.failing_after))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


# -- items ---------------------------------------------------------------------------------
