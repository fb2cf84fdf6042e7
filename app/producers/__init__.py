"""Sources inside the process (the demo) and the runner that keeps them to one per deployment."""
