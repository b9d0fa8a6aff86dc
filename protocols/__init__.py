"""Protocol and dataset definitions as versioned data (YAML); see :mod:`harness.protocols`."""
