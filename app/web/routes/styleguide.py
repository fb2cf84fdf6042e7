"""/styleguide: every partial in every state, from app/web/fixtures.py, for designers.

Served in dev mode, or in production when `LIVEDASH_STYLEGUIDE=1` asks for it; otherwise 404,
as if it did not exist.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.datastructures import CacheControlHeader
from litestar.exceptions import NotFoundException
from litestar.response import Template
from markupsafe import Markup

from app.service.dashboard import Dashboard
from app.web.fixtures import GROUPS


@get(
    "/styleguide",
    cache_control=CacheControlHeader(no_store=True),
    sync_to_thread=False,
    include_in_schema=False,
)
def styleguide(dashboard: Dashboard, request: Request[Any, Any, Any]) -> Template:
    """Each fixture rendered by its real partial (autoescaped like any page), inside the page frame."""
    if not dashboard.settings.styleguide_on:
        raise NotFoundException()
    engine = request.app.template_engine
    assert engine is not None  # create_app always configures Jinja
    groups = [
        (
            group,
            [(ex, Markup(engine.get_template(ex.template).render(**ex.context))) for ex in group.examples],
        )
        for group in GROUPS
    ]
    return Template(
        "pages/styleguide.html",
        context={"title": "Style guide", "groups": groups},
    )
