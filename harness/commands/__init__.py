"""CLI commands that belong to the engine itself (others live beside the module they drive)."""
