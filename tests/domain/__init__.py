"""Unit tests of the domain layer: inputs, facts, ids, the state fold."""
