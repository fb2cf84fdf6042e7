"""HTTP: the ASGI app uvicorn runs, the stream handler, routes, validation, auth, shutdown."""
