"""Benchmark and evaluation harness for video-CLIP action recognition.

The engine stays thin: methods live in ``methods/``, protocol and dataset definitions in ``protocols/``.
"""

import os as _os

# OpenMP threads busy-wait by default; on shared cores that made steps and the toy CLIP's pretraining up to
# 10x slower (measured: 656 s vs 59 s). Passive waiting changes no number, only the scheduling.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"

from .models.methods_registry import register_method  # noqa: E402  (public API for plugins)

__all__ = ["register_method", "__version__"]
