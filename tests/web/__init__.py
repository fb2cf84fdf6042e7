"""Unit tests of app/web, driven as the server drives the app: ASGI messages, no sockets."""
