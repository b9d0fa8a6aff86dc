"""Data: dataset definitions and file formats, the embedded benchmark, the decode pipeline."""
