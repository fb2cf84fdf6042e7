"""Unit tests of the dashboard service: ingest, throttle, limits, delivery."""
