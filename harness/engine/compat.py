"""Compatibility fixes for the pinned stack (../shared/docs/engineering.md §5)."""
from __future__ import annotations

import builtins

_done = False


def allow_mmengine_checkpoints() -> None:
    """torch ≥ 2.6 loads with ``weights_only=True``; mmengine's resume checkpoints hold a few non-tensor
    objects (HistoryBuffer, numpy scalars). Allow exactly those instead of turning the safety off."""
    global _done
    if _done:
        return
    import numpy as np
    import torch
    from mmengine.logging.history_buffer import HistoryBuffer

    core = getattr(np, "_core", None) or np.core
    torch.serialization.add_safe_globals([
        HistoryBuffer, np.dtype, np.ndarray, core.multiarray.scalar, core.multiarray._reconstruct,
        builtins.getattr, type(np.dtype("float64")), type(np.dtype("int64")), type(np.dtype("float32")),
    ])
    _done = True
