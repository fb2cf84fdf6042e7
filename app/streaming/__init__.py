"""Bytes on the wire: SSE framing, rendering partials once, the replay window, the fan-out.

Uses `app.domain` only (and the hub interface, for a resume older than the window).
"""
