"""Cross-cutting work done as mmengine hooks: the training curve, the run's identity in its checkpoints,
progress on the console, and per-epoch reseeding.

The curve and the identity travel inside every checkpoint (``checkpoint["meta"]["harness"]``), so a resumed
training reports its whole history and can refuse a checkpoint that belongs to another run.
"""
from __future__ import annotations

import sys
import time

from mmengine.hooks import Hook

from ..errors import HarnessError
from ..registry import HOOKS


def _logged_lr(runner) -> float | None:
    """The lr of the step just taken, as the LoggerHook logs it (RuntimeInfoHook stores it before the step;
    the scheduler has already moved on by the time this hook runs)."""
    try:
        return float(runner.message_hub.get_scalar("train/lr").current())
    except (KeyError, AttributeError):
        return None


@HOOKS.register_module()
class TrainingCurveHook(Hook):
    """Per-step loss and wall time, and a curve point (iteration, epoch, loss averaged over the last
    ``interval`` steps, lr) at every step the LoggerHook logs, with the LoggerHook's own window, so the record
    and the mmengine log hold the same losses."""

    priority = "VERY_LOW"

    def __init__(self, interval: int = 10):
        self.interval = max(1, int(interval))
        self.step_times: list[float] = []
        self.losses: list[float] = []
        self.curve: list[dict] = []
        self.wall_s = 0.0  # training time of earlier attempts (resume) plus this one
        self._start = 0.0
        self._attempt_started = None

    def before_train(self, runner) -> None:
        self._attempt_started = time.perf_counter()

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        self._start = time.perf_counter()

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self.step_times.append(time.perf_counter() - self._start)
        if outputs and "loss" in outputs:
            self.losses.append(float(outputs["loss"].detach()))
        last_of_epoch = batch_idx + 1 == len(runner.train_dataloader)
        if (batch_idx + 1) % self.interval == 0 or last_of_epoch:
            window = self.losses[-self.interval:]  # mmengine's LogProcessor window (window_size = interval)
            mean = sum(window) / len(window) if window else None
            self.curve.append(dict(iteration=runner.iter + 1, epoch=runner.epoch + 1,
                                   loss=round(mean, 6) if mean is not None else None, lr=_logged_lr(runner)))

    def elapsed(self) -> float:
        running = time.perf_counter() - self._attempt_started if self._attempt_started else 0.0
        return self.wall_s + running

    def before_save_checkpoint(self, runner, checkpoint) -> None:
        checkpoint.setdefault("meta", {}).setdefault("harness", {})["training"] = dict(
            step_times=self.step_times, losses=self.losses, curve=self.curve, wall_s=self.elapsed())

    def after_load_checkpoint(self, runner, checkpoint) -> None:
        saved = checkpoint.get("meta", {}).get("harness", {}).get("training")
        if saved:
            self.step_times, self.losses = list(saved["step_times"]), list(saved["losses"])
            self.curve, self.wall_s = list(saved["curve"]), float(saved["wall_s"])
            self._attempt_started = time.perf_counter()

    def summary(self, skip_first: int = 2) -> dict:
        times = self.step_times[skip_first:] or self.step_times
        return dict(step_time_s=round(sum(times) / len(times), 6) if times else None,
                    iterations=len(self.step_times),
                    first_loss=self.losses[0] if self.losses else None,
                    final_loss=self.losses[-1] if self.losses else None,
                    curve=self.curve, wall_s=round(self.elapsed(), 3))


@HOOKS.register_module()
class RunIdentityHook(Hook):
    """Writes the run's identity (run id, method, backbone, config hash) into every checkpoint and refuses to
    resume from a checkpoint written by another run — a resume must never mix two configs."""

    priority = "VERY_HIGH"

    def __init__(self, identity: dict):
        self.identity = dict(identity)

    def before_save_checkpoint(self, runner, checkpoint) -> None:
        checkpoint.setdefault("meta", {}).setdefault("harness", {})["identity"] = self.identity

    def after_load_checkpoint(self, runner, checkpoint) -> None:
        saved = checkpoint.get("meta", {}).get("harness", {}).get("identity")
        problem = identity_mismatch(saved, self.identity)
        if problem:
            raise HarnessError(f"--resume refused: the checkpoint in {runner.work_dir} {problem}; rerun with the "
                               "options it was trained with, or drop --resume to train afresh")


def identity_mismatch(saved: dict | None, expected: dict) -> str | None:
    """A short phrase saying how ``saved`` differs from ``expected`` (None when it is the same run)."""
    if not saved:
        return "carries no run identity (it was not written by this harness's training)"
    for key in ("method", "backbone", "unit", "config_hash"):
        if saved.get(key) != expected.get(key):
            if key == "config_hash":
                return "was trained with another config" + config_difference(saved.get("config"),
                                                                             expected.get("config"))
            return f"belongs to another run ({key} {saved.get(key)!r}, this run {expected.get(key)!r})"
    return None


def config_difference(old: dict | None, new: dict | None, limit: int = 3) -> str:
    """`` (train.optimizer.lr 0.001 → 0.01, ...)`` for the first keys that differ."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return ""

    def flat(node, prefix=""):
        out = {}
        for key, value in node.items():
            where = f"{prefix}.{key}" if prefix else str(key)
            out.update(flat(value, where) if isinstance(value, dict) else {where: value})
        return out

    a, b = flat(old), flat(new)
    changed = [f"{k} {a.get(k)!r} → {b.get(k)!r}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    if not changed:
        return ""
    more = f", and {len(changed) - limit} more" if len(changed) > limit else ""
    return f" ({', '.join(changed[:limit])}{more})"


@HOOKS.register_module()
class ProgressHook(Hook):
    """Live progress: one rewritten line on a terminal; a short line every ``every_s`` seconds otherwise
    (logs of batch jobs stay readable)."""

    priority = "LOWEST"

    def __init__(self, label: str, curve: TrainingCurveHook, every_s: float = 20.0, stream=None):
        self.label, self.curve, self.every_s = label, curve, float(every_s)
        self.stream = stream or sys.stdout
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last = 0.0
        self._shown = False

    def before_train(self, runner) -> None:
        self._last = time.perf_counter()

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        now = time.perf_counter()
        done, total = runner.iter + 1, runner.max_iters
        if now - self._last < (0.5 if self.tty else self.every_s) and done < total:
            return
        self._last = now
        line = self.line(runner.epoch + 1, runner.max_epochs, done, total)
        if self.tty:
            self.stream.write("\r\033[K" + line)
            self._shown = True
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def after_train(self, runner) -> None:
        if self.tty and self._shown:
            self.stream.write("\n")
            self.stream.flush()

    def line(self, epoch: int, epochs: int, done: int, total: int) -> str:
        losses = self.curve.losses[-10:]
        loss = f"loss {sum(losses) / len(losses):.3f}" if losses else "loss -"
        times = self.curve.step_times[-20:]
        eta = (total - done) * (sum(times) / len(times)) if times else 0.0
        return (f"  [train] {self.label}  epoch {epoch}/{epochs}  iter {done}/{total}  {loss}  "
                f"ETA {_clock(eta)}")


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


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
