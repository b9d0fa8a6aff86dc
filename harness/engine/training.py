"""Training one unit through mmengine: the data loaders, the harness's Runner (full log to train.log, quiet
console), the optimizer and schedule from the config, and what the training itself measures (curve, memory)."""
from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import torch

from .distributed import is_rank0, world_size
from .preflight import resolve_videos


def video_dataset(video_list, config: dict, model, train: bool, skip_log: Path):
    from ..data.pipeline import VideoListDataset, build_pipeline

    data, evaluation = config["data"], config["eval"]
    size = data["input_size"] or model.input_size
    pipeline = build_pipeline(model.frames, size, train=train, clips=evaluation["clips"], crops=evaluation["crops"],
                              flip=bool(config["train"]["flip"]) and not video_list.temporal,
                              random_offset=data["random_offset"], resize_ratio=data["resize_ratio"],
                              decoder=data["decoder"])
    views = 1 if train else evaluation["clips"] * evaluation["crops"]
    return VideoListDataset(video_list.entries, video_list.video_root, pipeline, test_mode=not train,
                            skip_log=skip_log, placeholder_shape=(views * model.frames, 3, size, size))


#: ``data.num_workers`` = AUTO_WORKERS: per device (see :func:`resolve_num_workers`); the default for real datasets
AUTO_WORKERS = -1
#: auto never starts more decode workers than this per GPU process (each holds its own decode cache)
MAX_AUTO_WORKERS = 8


def resolve_num_workers(num_workers: int, cuda: bool | None = None, cpus: int | None = None,
                        local_processes: int | None = None) -> int:
    """``data.num_workers``, with AUTO_WORKERS resolved per device: on CPU 0 (the model and the decoder share the
    cores; measured with ``bench``: 1 or 2 workers lower the pipeline's clips/s on 2 cores), on a GPU the CPUs
    of this node divided among its GPU processes, one left for the main process, at most MAX_AUTO_WORKERS
    (one decord worker decodes ~13 full-size clips/s of 8 frames here, so a GPU evaluating ~100 clips/s needs
    about 8 to never wait for the decoder)."""
    if num_workers != AUTO_WORKERS:
        return num_workers
    import os

    cuda = torch.cuda.is_available() if cuda is None else cuda
    if not cuda:
        return 0
    cpus = cpus or len(os.sched_getaffinity(0))
    local_processes = local_processes or int(os.environ.get("LOCAL_WORLD_SIZE", 1))
    return max(1, min(MAX_AUTO_WORKERS, cpus // local_processes - 1))


def loader(dataset, batch_size: int, num_workers: int, shuffle: bool, seed: int) -> dict:
    num_workers = resolve_num_workers(num_workers)
    return dict(dataset=dataset, batch_size=batch_size, num_workers=num_workers,
                persistent_workers=num_workers > 0, sampler=dict(type="DefaultSampler", shuffle=shuffle, seed=seed),
                collate_fn=dict(type="pseudo_collate"))


_RUNNER_CLASS = None


class _MmengineNoise:
    """Console filter for mmengine's own deprecation notices (its CheckpointHook still builds a FileClient):
    nothing a user can act on, printed by every training. They stay in train.log."""

    NOTICES = ('"FileClient" will be deprecated', '"HardDiskBackend" is the alias of')

    def filter(self, record) -> bool:
        message = record.getMessage()
        return not any(notice in message for notice in self.NOTICES)


def runner_class():
    """mmengine's Runner whose log goes to ``<work dir>/train.log`` in full (environment, every logged loss)
    and, appended across resumes, while the console shows only warnings."""
    global _RUNNER_CLASS
    if _RUNNER_CLASS is None:
        import logging

        from mmengine.runner import Runner

        class HarnessRunner(Runner):
            def build_logger(self, log_level="INFO", log_file=None, **kwargs):
                kwargs.setdefault("file_mode", "a")
                logger = super().build_logger(log_level=log_level, log_file=str(Path(self.work_dir) / "train.log"),
                                              **kwargs)
                for handler in logger.handlers:
                    if not isinstance(handler, logging.FileHandler):
                        handler.setLevel(logging.WARNING)
                        if not any(isinstance(f, _MmengineNoise) for f in handler.filters):
                            handler.addFilter(_MmengineNoise())
                return logger

        _RUNNER_CLASS = HarnessRunner
    return _RUNNER_CLASS


def runner_kwargs(config: dict, work_dir: Path, seed: int, name: str) -> dict:
    runtime = config["runtime"]
    experiment = f"{name}-{time.time_ns()}"
    backends = [dict(type="LocalVisBackend")]
    if runtime["tensorboard"]:
        backends.append(dict(type="TensorboardVisBackend"))
    kwargs = dict(work_dir=str(work_dir), experiment_name=experiment, default_scope="harness",
                  randomness=dict(seed=seed, deterministic=runtime["deterministic"], diff_rank_seed=False),
                  env_cfg=dict(cudnn_benchmark=False, mp_cfg=dict(mp_start_method="fork", opencv_num_threads=0),
                               dist_cfg=dict(backend="nccl" if torch.cuda.is_available() else "gloo")),
                  launcher=runtime["launcher"], log_level="INFO",
                  log_processor=dict(window_size=runtime["log_interval"], by_epoch=True),
                  default_hooks=dict(logger=dict(type="LoggerHook", interval=runtime["log_interval"]),
                                     timer=dict(type="IterTimerHook")),
                  visualizer=dict(type="Visualizer", vis_backends=backends, name=f"vis-{time.time_ns()}"))
    if runtime["launcher"] != "none" and not torch.cuda.is_available():
        # mmengine reads the wrapper from cfg; device_ids=None is what makes DDP accept CPU modules
        kwargs["cfg"] = dict(model_wrapper_cfg=dict(type="MMDistributedDataParallel", device_ids=None,
                                                    broadcast_buffers=False, find_unused_parameters=True))
    return kwargs


class _MemoryMeter:
    """What a training itself allocates: on CUDA the allocator's peak; on CPU the resident-set high-water
    mark above the resident set at the start (Linux resets the mark through /proc/self/clear_refs), less
    what the decoded-frame cache grew by — so frozen and fully fine-tuned methods can be told apart."""

    trainings = 0  # CPU: only a process's first training is measured (later ones reuse freed memory unseen)

    def __init__(self):
        from ..data.pipeline import DECODE_CACHE

        self.cache = DECODE_CACHE
        self.cuda = torch.cuda.is_available()
        self.how = None
        _MemoryMeter.trainings += 1
        if not self.cuda and _MemoryMeter.trainings > 1:
            self.start = None
            self.how = ("not measured: on CPU only a process's first training is (later ones reuse memory freed "
                        "by earlier ones, which the resident set does not show)")
            return
        if self.cuda:
            torch.cuda.reset_peak_memory_stats()
            self.start = torch.cuda.memory_allocated()
            self.how = "CUDA max_memory_allocated above the allocation at the start of training"
            return
        self.start = _status_kb("VmRSS")
        self.cache_start = self.cache.bytes
        try:
            Path("/proc/self/clear_refs").write_text("5")
            self.how = ("CPU, first training of its process: resident-set high-water mark above the resident "
                        "set at the start of training, less the decoded-frame cache's growth")
        except OSError:
            self.how = None

    def peak_mb(self) -> float | None:
        if self.cuda:
            return round((torch.cuda.max_memory_allocated() - self.start) / 2**20, 1)
        if self.start is None:
            return None
        peak = _status_kb("VmHWM")
        if peak is None:
            return None
        return round(max(0.0, (peak - self.start) / 1024 - (self.cache.bytes - self.cache_start) / 2**20), 1)


def _status_kb(field: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return float(line.split()[1])
    except OSError:
        pass
    return None


def train_unit(model, unit, config: dict, work_dir: Path, skip_log: Path, resume: bool, identity: dict, label: str):
    from .hooks import EpochSeedHook, ProgressHook, RunIdentityHook, TrainingCurveHook

    train_cfg, data, runtime = config["train"], config["data"], config["runtime"]
    video_list, missing = resolve_videos(unit.train, data["allow_missing"])
    selection = None
    if runtime["val_fraction"] > 0:
        from ..data.splits import hold_out

        kept, held = hold_out(video_list.entries, runtime["val_fraction"], unit.seed)
        video_list, selection = replace(video_list, entries=kept), replace(video_list, entries=held, name="val-holdout")
    model.set_class_names(video_list.class_names, video_list.descriptions)
    model.log_init_info = bool(runtime["log_init_info"])
    world = world_size()
    effective = int(train_cfg["batch_size"])
    per_device = int(train_cfg["per_device_batch_size"] or max(1, effective // world))
    accumulation = max(1, effective // (per_device * world))
    per_device = min(per_device, max(1, len(video_list.entries) // world))
    epochs = int(train_cfg["epochs"])
    optimizer = dict(train_cfg["optimizer"])
    optimizer["betas"] = tuple(optimizer.get("betas", (0.9, 0.999)))
    warmup = int(train_cfg["warmup_epochs"])
    schedulers = []
    if warmup > 0:
        schedulers.append(dict(type="LinearLR", start_factor=1e-3, by_epoch=True, begin=0, end=warmup,
                               convert_to_iter_based=True))
    if epochs > warmup:
        schedulers.append(dict(type="CosineAnnealingLR", by_epoch=True, begin=warmup, end=epochs,
                               T_max=epochs - warmup, eta_min=optimizer["lr"] * train_cfg["min_lr_ratio"],
                               convert_to_iter_based=True))
    curve = TrainingCurveHook(runtime["log_interval"])
    hooks = [EpochSeedHook(unit.seed + runtime["seed"]), RunIdentityHook(identity), curve]
    if runtime["progress"] and is_rank0():
        hooks.append(ProgressHook(label, curve))
    kwargs = runner_kwargs(config, work_dir, unit.seed + runtime["seed"], unit.label())
    kwargs["default_hooks"]["checkpoint"] = dict(type="CheckpointHook", interval=1, by_epoch=True, max_keep_ckpts=1,
                                                 save_last=True, save_optimizer=True, save_param_scheduler=True)
    runner = runner_class()(model=model,
                    train_dataloader=loader(video_dataset(video_list, config, model, True, skip_log), per_device,
                                             data["num_workers"], True, unit.seed),
                    train_cfg=dict(by_epoch=True, max_epochs=epochs, val_interval=10**9),
                    optim_wrapper=dict(constructor="MethodParamGroupsConstructor", optimizer=optimizer,
                                       accumulative_counts=accumulation,
                                       clip_grad=dict(max_norm=train_cfg["max_grad_norm"]) if train_cfg["max_grad_norm"] else None),
                    param_scheduler=schedulers or None, custom_hooks=hooks, resume=resume, **kwargs)
    memory = _MemoryMeter()
    runner.train()
    summary = curve.summary()
    training = dict(epochs=epochs, iterations=summary["iterations"], train_videos=len(video_list.entries),
                    effective_batch_size=per_device * accumulation * world, per_device_batch_size=per_device,
                    accumulation=accumulation, world_size=world, step_time_s=summary["step_time_s"],
                    peak_memory_mb=memory.peak_mb(), peak_memory_how=memory.how,
                    first_loss=summary["first_loss"], final_loss=summary["final_loss"], curve=summary["curve"],
                    wall_s=summary["wall_s"], resumed=bool(resume), selected_checkpoint="last", missing=missing)
    if selection is not None:
        training["selected_checkpoint"] = "last (validation slice of the training list reported below)"
    return runner, training, selection, video_list
