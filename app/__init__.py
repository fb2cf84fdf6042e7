"""livedash: a server-rendered live dashboard pushed over Server-Sent Events."""

__version__ = "0.1.0"
