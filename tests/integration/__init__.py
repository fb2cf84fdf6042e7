"""Integration tests: a real livedash under uvicorn, spoken to over loopback sockets."""
