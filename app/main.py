"""`create_app(settings)`: the one place that wires livedash together."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.contrib.jinja import JinjaTemplateEngine
from litestar.datastructures import CacheControlHeader, ResponseHeader, State
from litestar.di import Provide
from litestar.exceptions import ValidationException
from litestar.logging import LoggingConfig
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.static_files import create_static_files_router
from litestar.template import TemplateConfig

from app import __version__
from app.dashboard import Dashboard
from app.demo import DemoSource
from app.render import STATIC, Renderer, make_environment
from app.routes.deps import provide_dashboard
from app.routes.health import healthz
from app.routes.ingest import ingest_router
from app.routes.pages import index
from app.routes.streams import html_stream, json_stream
from app.settings import Settings
from app.shutdown import on_termination
from app.validation import name_the_field

log = logging.getLogger("livedash")

# Strict: our own script and style only, no inline code, no eval (htmx is configured for it).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)


@asynccontextmanager
async def lifespan(app: Litestar) -> AsyncIterator[None]:
    """Run the heartbeat and the demo source; end streams first when SIGTERM comes."""
    dashboard: Dashboard = app.state.dashboard
    settings = dashboard.settings
    if not settings.ingest_token:
        log.warning("LIVEDASH_INGEST_TOKEN is not set: ingest accepts loopback clients only")
    tasks = [asyncio.create_task(dashboard.run_heartbeats(), name="heartbeat")]
    if settings.demo:
        demo = DemoSource(dashboard, settings.demo_interval)
        tasks.append(asyncio.create_task(demo.run(), name="demo-source"))
        log.info("demo source on (LIVEDASH_DEMO=0 turns it off)")
    loop = asyncio.get_running_loop()

    def terminating() -> None:
        loop.call_soon_threadsafe(dashboard.close_streams)

    with on_termination(terminating):
        try:
            yield
        finally:
            dashboard.close_streams()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


def create_app(settings: Settings | None = None) -> Litestar:
    """Build the app for `settings` (read from the environment when not given)."""
    settings = settings or Settings.from_env()
    env = make_environment()
    dashboard = Dashboard(settings, Renderer(env))
    return Litestar(
        route_handlers=[
            index,
            healthz,
            ingest_router,
            html_stream,
            json_stream,
            create_static_files_router(
                "/static",
                directories=[STATIC],
                cache_control=CacheControlHeader(max_age=31_536_000, public=True),
                include_in_schema=False,
            ),
        ],
        dependencies={"dashboard": Provide(provide_dashboard, sync_to_thread=False)},
        state=State({"dashboard": dashboard, "settings": settings}),
        template_config=TemplateConfig(instance=JinjaTemplateEngine.from_environment(env)),
        lifespan=[lifespan],
        exception_handlers={ValidationException: name_the_field},
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
            # Every 500 with its traceback; client errors are answered, not logged.
            log_exceptions="always",
            disable_stack_trace=set(range(400, 500)),
            formatters={"standard": {"format": "%(levelname)-9s %(name)s: %(message)s"}},
        ),
    )
