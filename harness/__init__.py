"""Benchmark and evaluation harness for video-CLIP action recognition.

The engine stays thin: methods live in ``methods/``, protocol and dataset definitions in ``protocols/``.
"""

__version__ = "0.1.0"

from .methods_registry import register_method  # noqa: E402  (public API for plugins)

__all__ = ["register_method", "__version__"]
