"""Dependencies the handlers ask for by name."""

from __future__ import annotations

from litestar.datastructures import State

from app.service.dashboard import Dashboard


def provide_dashboard(state: State) -> Dashboard:
    """The app's one dashboard, created in `create_app`."""
    dashboard: Dashboard = state.dashboard
    return dashboard
