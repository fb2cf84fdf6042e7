"""`create_app(settings)`: the one place that wires livedash together."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, Request, Response
from litestar.contrib.jinja import JinjaTemplateEngine
from litestar.datastructures import CacheControlHeader, ResponseHeader, State
from litestar.di import Provide
from litestar.exceptions import ValidationException
from litestar.logging import LoggingConfig
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.static_files import create_static_files_router
from litestar.template import TemplateConfig
from uvicorn.config import STARTUP_FAILURE

from app import __version__
from app.domain.board import Board, BoardError, load_board
from app.hubs.base import Hub, HubUnavailable
from app.hubs.embedded import EmbeddedHub
from app.hubs.redis import RedisHub
from app.hubs.sqlite import SqliteStore, StoreError
from app.producers.demo import DemoSource
from app.producers.runner import Producers
from app.producers.watch import Watcher
from app.service.dashboard import Dashboard
from app.settings import Settings, SettingsError
from app.streaming.render import STATIC, Renderer, make_environment
from app.web.asgi import StreamsFirst
from app.web.metrics import IngestCounts, make_registry
from app.web.routes.deps import provide_dashboard
from app.web.routes.health import healthz, readyz
from app.web.routes.history import card_chart, card_page, metric_history
from app.web.routes.ingest import ingest_router
from app.web.routes.metrics import metrics
from app.web.routes.pages import index
from app.web.shutdown import on_termination
from app.web.validation import name_the_field

log = logging.getLogger("livedash")

# Strict: our own script and style only, no inline code, no eval (htmx is configured for it).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)


def refuse_in_worker(exc: SettingsError | BoardError) -> None:
    """In a worker of `uvicorn --workers N`, exit with uvicorn's start-up failure status.

    An exception from the app factory makes uvicorn's supervisor restart the worker forever;
    exit status 3 makes it stop instead (a setting wrong for one worker is wrong for all).
    `python -m app`, which the Procfile runs, checks the settings before any worker starts.
    """
    if multiprocessing.parent_process() is not None:
        log.error("cannot start: %s", exc)
        sys.exit(STARTUP_FAILURE)


def hub_unavailable(_request: Request[Any, Any, Any], exc: HubUnavailable) -> Response[dict[str, Any]]:
    """503 with the reason: the request was not recorded, so retrying later is safe."""
    return Response({"status_code": 503, "detail": str(exc)}, status_code=503, headers={"Retry-After": "2"})


def make_hub(settings: Settings) -> Hub:
    """Redis when a URL is set, else the embedded hub (SQLite unless `db_path` is empty)."""
    if settings.redis_url:
        return RedisHub(settings.redis_url, settings.redis_prefix, settings.replay_window, settings.feed_size)
    return EmbeddedHub(SqliteStore(settings.db_path, settings.replay_window) if settings.db_path else None)


@asynccontextmanager
async def lifespan(app: Litestar) -> AsyncIterator[None]:
    """Load the hub's state, run the background work; end streams first when SIGTERM comes."""
    dashboard: Dashboard = app.state.dashboard
    settings = dashboard.settings
    try:
        await dashboard.start()
    except (StoreError, HubUnavailable) as exc:
        log.error("cannot start: %s", exc)
        await dashboard.hub.close()
        raise  # uvicorn exits with its start-up failure status (its supervisor then stops too)
    log.info("hub: %s, at event %s", dashboard.hub.kind, dashboard.state.version)
    if not settings.ingest_token:
        log.warning("LIVEDASH_INGEST_TOKEN is not set: ingest accepts loopback clients only")
    work_once = [DemoSource(dashboard, settings.demo_interval).run] if settings.demo else []
    if dashboard.watched:  # staleness and alert rules: decided in one place per deployment
        work_once.append(Watcher(dashboard).run)
    producers = Producers(dashboard, work_once)
    if settings.demo:
        log.info("demo source on (LIVEDASH_DEMO=0 turns it off)")
    work = [
        dashboard.run_heartbeats(),
        dashboard.throttle.run(),
        producers.run(),
        *dashboard.hub.background(),
    ]
    tasks = [asyncio.create_task(coro) for coro in work]
    loop = asyncio.get_running_loop()

    def terminating() -> None:
        loop.call_soon_threadsafe(dashboard.streams.close_all)

    with on_termination(terminating):
        try:
            yield
        finally:
            dashboard.streams.close_all()
            await producers.stop()
            await dashboard.throttle.flush()  # the last value of every card is recorded
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await dashboard.hub.close()


def create_app(settings: Settings | None = None) -> StreamsFirst:
    """Build the app for `settings` (read from the environment when not given)."""
    try:
        settings = settings or Settings.from_env()
        settings.check()
        board = load_board(settings.config) if settings.config else Board()
    except (SettingsError, BoardError) as exc:
        refuse_in_worker(exc)
        raise
    env = make_environment()
    dashboard = Dashboard(settings, Renderer(env), make_hub(settings), board=board)
    ingest_counts = IngestCounts()
    app = Litestar(
        route_handlers=[
            index,
            card_page,
            card_chart,
            metric_history,
            healthz,
            readyz,
            metrics,
            ingest_router,
            create_static_files_router(
                "/static",
                directories=[STATIC],
                cache_control=CacheControlHeader(max_age=31_536_000, public=True),
                include_in_schema=False,
            ),
        ],
        dependencies={"dashboard": Provide(provide_dashboard, sync_to_thread=False)},
        state=State(
            {
                "dashboard": dashboard,
                "settings": settings,
                "metrics_registry": make_registry(dashboard, ingest_counts),
            }
        ),
        template_config=TemplateConfig(instance=JinjaTemplateEngine.from_environment(env)),
        lifespan=[lifespan],
        exception_handlers={ValidationException: name_the_field, HubUnavailable: hub_unavailable},
        response_headers=[
            ResponseHeader(name="Content-Security-Policy", value=CONTENT_SECURITY_POLICY),
            ResponseHeader(name="X-Content-Type-Options", value="nosniff"),
            ResponseHeader(name="Referrer-Policy", value="same-origin"),
        ],
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="livedash",
            version=__version__,
            path="/schema",
            render_plugins=[JsonRenderPlugin()],
        ),
        logging_config=LoggingConfig(
            root={"level": "INFO", "handlers": ["queue_listener"]},
            # Every 500 with its traceback; client errors and 503 (hub down: /readyz says why) without.
            log_exceptions="always",
            disable_stack_trace={*range(400, 500), HubUnavailable},
            formatters={"standard": {"format": "%(levelname)-9s %(name)s: %(message)s"}},
        ),
    )
    return StreamsFirst(app, dashboard, ingest_counts)
