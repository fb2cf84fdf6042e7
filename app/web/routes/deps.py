"""Dependencies the handlers ask for by name."""

from __future__ import annotations

from litestar.datastructures import State

from app.service.dashboard import Dashboard
from app.service.viewers import Viewers


def provide_dashboard(state: State) -> Dashboard:
    """The app's one dashboard, created in `create_app`."""
    dashboard: Dashboard = state.dashboard
    return dashboard


def provide_viewers(state: State) -> Viewers:
    """The app's viewer links."""
    viewers: Viewers = state.viewers
    return viewers
