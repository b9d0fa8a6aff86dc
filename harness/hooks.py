"""Cross-cutting work done as mmengine hooks: training step time and the failed-video budget."""
from __future__ import annotations

import time

from mmengine.hooks import Hook

from .registry import HOOKS


@HOOKS.register_module()
class StepTimerHook(Hook):
    """Wall time of each optimizer step (data loading excluded), kept for the run record."""

    priority = "VERY_LOW"

    def __init__(self):
        self.step_times: list[float] = []
        self.losses: list[float] = []
        self._start = 0.0

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        self._start = time.perf_counter()

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self.step_times.append(time.perf_counter() - self._start)
        if outputs and "loss" in outputs:
            self.losses.append(float(outputs["loss"].detach()))

    def summary(self, skip_first: int = 2) -> dict:
        times = self.step_times[skip_first:] or self.step_times
        return dict(step_time_s=round(sum(times) / len(times), 6) if times else None,
                    iterations=len(self.step_times),
                    first_loss=self.losses[0] if self.losses else None,
                    final_loss=self.losses[-1] if self.losses else None)


@HOOKS.register_module()
class EpochSeedHook(Hook):
    """Reseed python, numpy and torch at the start of every epoch from (seed, epoch).

    Augmentation (segment offsets, crops, flips) and dropout then depend only on the epoch, so a run
    killed after epoch k and resumed from its checkpoint replays epochs k+1.. exactly as an uninterrupted
    run would (mmengine's resume restores weights, optimizer, scheduler and the epoch, not the RNG streams).
    """

    priority = "VERY_HIGH"

    def __init__(self, seed: int):
        self.seed = int(seed)

    def before_train_epoch(self, runner) -> None:
        import random

        import numpy as np
        import torch

        value = (self.seed * 1_000_003 + runner.epoch) % 2**31
        random.seed(value)
        np.random.seed(value)
        torch.manual_seed(value)
