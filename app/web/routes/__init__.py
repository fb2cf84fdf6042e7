"""HTTP handlers: thin wrappers that decode, call the dashboard, and encode."""
