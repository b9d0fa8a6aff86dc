"""Protocol and dataset definitions as versioned data (YAML); see :mod:`harness.engine.protocols`."""
