"""The bottom layer: what users send, the facts the hub records, ids, and the folded state.

Imports nothing of ours; every other layer may import it.
"""
