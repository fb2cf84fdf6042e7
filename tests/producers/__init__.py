"""Unit tests of the in-process producers (the demo source)."""
