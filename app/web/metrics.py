"""`/metrics` in the Prometheus text format: what one process is doing, read at scrape time.

Nothing is counted per delivery here: the fan-out keeps plain integers per broadcast and per
flush (`Channel.deliveries`, `writes`, `bytes_written`), the hub its own figures; a scrape
turns them into metric families. The registry belongs to the app, so two apps in one
process (tests) never share a series.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from app.service.dashboard import Dashboard

INGEST_ROUTES = ("/api/metrics", "/api/activity", "/api/alerts", "/api/alerts/{alert_id}")


def ingest_route(path: str) -> str | None:
    """The route template a request to `path` matched, or None when it is no ingest route
    (so an attacker's made-up paths cannot grow the series without bound)."""
    if path in INGEST_ROUTES:
        return path
    head, _, rest = path.rpartition("/")
    if head == "/api/alerts" and rest:
        return "/api/alerts/{alert_id}"
    return None


class IngestCounts:
    """Ingest answers by method, route and status, counted as each response starts."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str, int]] = Counter()

    def count(self, method: str, path: str, status: int) -> None:
        route = ingest_route(path)
        if route is not None:
            self.counts[(method, route, status)] += 1


class DashboardCollector(Collector):
    """Reads the dashboard's counters into `livedash_*` metric families at scrape time."""

    def __init__(self, dashboard: Dashboard, ingest: IngestCounts) -> None:
        self.dashboard = dashboard
        self.ingest = ingest

    def collect(self) -> Iterator[Metric]:
        streams = self.dashboard.streams
        channels = streams.channels.items()
        open_streams = GaugeMetricFamily("livedash_open_streams", "Open SSE streams.", labels=["format"])
        deliveries = CounterMetricFamily(
            "livedash_deliveries",
            "Frames broadcast to clients (one frame to one client; openings are counted apart).",
            labels=["format"],
        )
        writes = CounterMetricFamily(
            "livedash_writes", "Writes to clients (a write may carry many frames).", labels=["format"]
        )
        written = CounterMetricFamily(
            "livedash_written_bytes", "Bytes written to clients.", labels=["format"]
        )
        conflations = CounterMetricFamily(
            "livedash_conflations",
            "Frames of a lagging client replaced by a newer one of the same card.",
            labels=["format"],
        )
        ended = CounterMetricFamily(
            "livedash_streams_ended", "Streams ended, by reason.", labels=["format", "reason"]
        )
        for fmt, channel in channels:
            open_streams.add_metric([fmt.value], len(channel))
            deliveries.add_metric([fmt.value], channel.deliveries)
            writes.add_metric([fmt.value], channel.writes)
            written.add_metric([fmt.value], channel.bytes_written)
            conflations.add_metric([fmt.value], channel.conflations)
            for reason, count in channel.ended.items():
                ended.add_metric([fmt.value, reason.value], count)
        yield from (open_streams, deliveries, writes, written, conflations, ended)

        openings = CounterMetricFamily(
            "livedash_stream_openings",
            "Streams opened, by what they were sent first: snapshot (no id), resumed (what they"
            " missed), resync (an id that could not be served: a snapshot).",
            labels=["outcome"],
        )
        for outcome, count in streams.openings.items():
            openings.add_metric([outcome.value], count)
        yield openings

        yield GaugeMetricFamily(
            "livedash_held_points",
            "Metric points waiting in the per-card throttle.",
            value=len(self.dashboard.throttle),
        )
        requests = CounterMetricFamily(
            "livedash_ingest_requests", "Ingest requests answered.", labels=["method", "route", "status"]
        )
        for (method, route, status), count in sorted(self.ingest.counts.items()):
            requests.add_metric([method, route, str(status)], count)
        yield requests
        yield from self.dashboard.append_latency.collect()

        figures = self.dashboard.hub.telemetry()
        if "commits" in figures:
            yield CounterMetricFamily(
                "livedash_store_commits", "SQLite transactions committed.", value=figures["commits"]
            )
            yield CounterMetricFamily(
                "livedash_store_commit_seconds",
                "Time spent committing SQLite transactions.",
                value=figures["commit_seconds"],
            )
        if "reader_lag_seconds" in figures:
            yield GaugeMetricFamily(
                "livedash_redis_reader_lag_seconds",
                "How long after Redis appended it this process delivered the newest event it read.",
                value=figures["reader_lag_seconds"],
            )
        path = GaugeMetricFamily(
            "livedash_write_path",
            "How streams are written: direct (uvicorn's transport) or asgi.",
            labels=["path"],
        )
        if streams.write_path is not None:
            path.add_metric([streams.write_path], 1)
        yield path


def make_registry(dashboard: Dashboard, ingest: IngestCounts) -> CollectorRegistry:
    """The app's own registry, holding only its collector."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DashboardCollector(dashboard, ingest))
    return registry
