"""Optimizer groups come from the method (its official learning-rate multipliers), not from the engine."""
from __future__ import annotations

from mmengine.optim import DefaultOptimWrapperConstructor

from ..registry import OPTIM_WRAPPER_CONSTRUCTORS


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class MethodParamGroupsConstructor(DefaultOptimWrapperConstructor):
    """Builds the optimizer over ``model.param_groups(lr, weight_decay)``."""

    def __call__(self, model):
        from mmengine.optim import build_optim_wrapper  # noqa: F401  (registry warm-up)
        from mmengine.registry import OPTIM_WRAPPERS, OPTIMIZERS

        module = model.module if hasattr(model, "module") else model
        optimizer_cfg = dict(self.optimizer_cfg)
        lr, weight_decay = optimizer_cfg["lr"], optimizer_cfg.get("weight_decay", 0.0)
        optimizer_cfg["params"] = module.param_groups(lr, weight_decay)
        optimizer = OPTIMIZERS.build(optimizer_cfg)
        wrapper_cfg = dict(self.optim_wrapper_cfg)
        wrapper_cfg.setdefault("type", "OptimWrapper")
        return OPTIM_WRAPPERS.build(wrapper_cfg, default_args=dict(optimizer=optimizer))
