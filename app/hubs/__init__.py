"""Where events get their ids and are kept: the interface, embedded + SQLite, and Redis.

Uses `app.domain` only: a hub stores facts and encoded entries without knowing how they render.
"""
