"""`create_app(settings)`: the one place that wires livedash together."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import resource
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, Request, Response
from litestar.config.allowed_hosts import AllowedHostsConfig
from litestar.contrib.jinja import JinjaTemplateEngine
from litestar.datastructures import CacheControlHeader, State
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
from app.service.viewers import Viewers
from app.settings import Settings, SettingsError
from app.streaming.render import STATIC, TEMPLATES, Renderer, build_id, make_environment
from app.web.access import LoginThrottle, RateLimit, SessionCodec, StreamCounter, session_key
from app.web.asgi import STREAM_PATHS, StreamsFirst
from app.web.dev import watch_files
from app.web.gate import Gate
from app.web.metrics import IngestCounts, make_registry
from app.web.routes.deps import provide_dashboard, provide_viewers
from app.web.routes.health import healthz, readyz, redact_hosts
from app.web.routes.history import card_chart, card_page, metric_history
from app.web.routes.ingest import ingest_router
from app.web.routes.links import links_router
from app.web.routes.login import login, login_page, logout, open_link
from app.web.routes.metrics import metrics
from app.web.routes.pages import index
from app.web.routes.styleguide import styleguide
from app.web.shutdown import on_termination
from app.web.validation import name_the_field

log = logging.getLogger("livedash")

FD_RESERVE = 64
"""File descriptors kept out of the streams' reach, so ingest, /healthz and the hub still get
sockets and files when streams fill the process."""


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
    """503 with the reason (without host names): the request was not recorded, so retrying
    later is safe."""
    detail = redact_hosts(str(exc))
    return Response({"status_code": 503, "detail": detail}, status_code=503, headers={"Retry-After": "2"})


def raise_fd_limit() -> int:
    """Raise the soft limit on open files to the hard one (a stream is a socket); the limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError) as exc:
            log.warning("cannot raise the open-file limit from %d to %d: %s", soft, hard, exc)
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


def stream_cap(settings: Settings, fd_limit: int) -> int:
    """`LIVEDASH_MAX_STREAMS`, or fewer when the process may not open that many sockets."""
    return max(1, min(settings.max_streams, fd_limit - FD_RESERVE))


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
    streams: StreamCounter = app.state.stream_counter
    if streams.total < settings.max_streams:
        log.info("at most %d open streams: the open-file limit allows no more", streams.total)
    if not settings.ingest_token:
        log.warning(
            "LIVEDASH_INGEST_TOKEN is not set: ingest accepts %s",
            "direct loopback clients only" if settings.loopback_ingest else "nobody",
        )
    work_once = [DemoSource(dashboard, settings.demo_interval).run] if settings.demo else []
    if dashboard.watched:  # staleness and alert rules: decided in one place per deployment
        work_once.append(Watcher(dashboard).run)
    producers = Producers(dashboard, work_once)
    if settings.demo:
        log.info("demo source on (LIVEDASH_DEMO=0 turns it off)")
    viewers: Viewers = app.state.viewers
    work = [
        viewers.run(),
        dashboard.run_heartbeats(),
        dashboard.throttle.run(),
        producers.run(),
        *dashboard.hub.background(),
    ]
    if settings.dev:  # a designer's edit shows in every open page, with no reload by hand
        log.info("dev mode: templates reload, open pages refresh when templates/ or static/ change")
        work.append(watch_files((TEMPLATES, STATIC), lambda: dashboard.streams.signal("dev-reload")))
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
        if settings is None:
            settings, notes = Settings.from_env_noting()
            if notes and multiprocessing.parent_process() is not None:
                # uvicorn itself was asked for several workers (it reads WEB_CONCURRENCY too):
                # they are running, each with a hub of its own. Only `python -m app` can fall back.
                raise SettingsError(
                    f"WEB_CONCURRENCY={os.environ.get('WEB_CONCURRENCY')}: several workers need a shared"
                    " hub; set LIVEDASH_REDIS_URL (or REDIS_URL), or start livedash with `python -m app`"
                )
        settings.check()
        board = load_board(settings.config) if settings.config else Board()
    except (SettingsError, BoardError) as exc:
        refuse_in_worker(exc)
        raise
    env = make_environment(auto_reload=settings.dev)
    build = build_id(__version__)
    env.globals["build"] = build
    env.globals["dev"] = settings.dev
    dashboard = Dashboard(settings, Renderer(env), make_hub(settings), board=board, build=build)
    ingest_counts = IngestCounts()
    viewers = Viewers(dashboard.hub)
    sessions = SessionCodec(session_key(settings), settings.session_hours * 3600)
    streams = StreamCounter(settings.max_streams_per_ip, stream_cap(settings, raise_fd_limit()))
    app = Litestar(
        route_handlers=[
            index,
            styleguide,
            card_page,
            card_chart,
            metric_history,
            healthz,
            readyz,
            metrics,
            login_page,
            login,
            logout,
            open_link,
            ingest_router,
            links_router,
            create_static_files_router(
                "/static",
                directories=[STATIC],
                cache_control=CacheControlHeader(max_age=31_536_000, public=True),
                include_in_schema=False,
            ),
        ],
        dependencies={
            "dashboard": Provide(provide_dashboard, sync_to_thread=False),
            "viewers": Provide(provide_viewers, sync_to_thread=False),
        },
        state=State(
            {
                "dashboard": dashboard,
                "settings": settings,
                "metrics_registry": make_registry(dashboard, ingest_counts),
                "viewers": viewers,
                "sessions": sessions,
                "login_throttle": LoginThrottle(),
                "ingest_rate": RateLimit(settings.ingest_rate),
                "stream_counter": streams,
            }
        ),
        template_config=TemplateConfig(instance=JinjaTemplateEngine.from_environment(env)),
        lifespan=[lifespan],
        exception_handlers={ValidationException: name_the_field, HubUnavailable: hub_unavailable},
        allowed_hosts=AllowedHostsConfig(
            allowed_hosts=settings.allowed_host_list, www_redirect=False, exclude=["/healthz", "/readyz"]
        )
        if settings.allowed_host_list
        else None,
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
    # The gate checks the streams too (StreamsFirst asks it first): they never reach Litestar.
    gate = Gate(app, settings, sessions, viewers, frozenset(STREAM_PATHS))
    return StreamsFirst(gate, dashboard, streams, viewers, ingest_counts)
