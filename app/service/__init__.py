"""The dashboard service: ingest -> throttle -> hub -> state -> render once -> fan out.

No web framework here; uses the hubs, streaming and domain layers.
"""
