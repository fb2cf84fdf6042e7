"""The viewer-link API (the ingest token's): make, list and revoke links for screens."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, Router, delete, get, post
from litestar.exceptions import NotFoundException
from litestar.params import Parameter

from app.domain.viewers import LinkIn
from app.service.viewers import Viewers
from app.web.auth import ingest_guard
from app.web.validation import strict_body


class LinkCreated(msgspec.Struct):
    """A new link; `url` holds its secret, shown this once."""

    id: str
    label: str
    url: str
    created_at: float


class LinkShown(msgspec.Struct):
    """A link as listed: never its secret."""

    id: str
    label: str
    created_at: float
    last_seen: float | None
    streams: int
    """Streams open on it now, over every process."""


class Revoked(msgspec.Struct):
    """What DELETE did."""

    id: str
    revoked: bool


@post("/viewer-links", status_code=201, before_request=strict_body(LinkIn))
async def create_link(data: LinkIn, viewers: Viewers, request: Request[Any, Any, Any]) -> LinkCreated:
    """Make a link that logs one screen in (`{"label": "lobby tv"}`)."""
    link, secret = await viewers.create(data.label)
    url = str(request.base_url).rstrip("/") + f"/link/{link.id}/{secret}"
    return LinkCreated(link.id, link.label, url, link.created_at)


@get("/viewer-links")
async def list_links(viewers: Viewers) -> list[LinkShown]:
    """Every link, oldest first, with when it was last seen and its open streams."""
    return [
        LinkShown(link.id, link.label, link.created_at, link.last_seen, streams)
        for link, streams in await viewers.listing()
    ]


@delete("/viewer-links/{link_id:str}", status_code=200)
async def revoke_link(
    viewers: Viewers, link_id: Annotated[str, Parameter(pattern=r"^[0-9a-f]{1,64}$")]
) -> Revoked:
    """Revoke a link: its streams end and its browsers are logged out."""
    if not await viewers.revoke(link_id):
        raise NotFoundException(f"link_id: no viewer link {link_id!r}")
    return Revoked(link_id, True)


links_router = Router(
    "/api",
    route_handlers=[create_link, list_links, revoke_link],
    guards=[ingest_guard],
    tags=["viewer links"],
)
