"""One module per method; each is registered lazily by name in :mod:`harness.models.methods_registry`."""
