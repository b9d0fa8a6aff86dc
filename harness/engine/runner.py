"""Protocol units → mmengine Runner: train the method on the unit's training list, evaluate it on each of the
unit's evaluation lists (switching the class set), and write one run record per unit.
"""
from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path

import torch

from . import records as rec
from . import workdirs
from .config import build_config, embedded_units, identity_config
from ..models.feature_cache import FEATURE_CACHE
from ..errors import HarnessError
from ..models.methods_registry import method_class
from ..paths import REPO_ROOT, records_dir as default_records_dir, work_root as default_work_root
from .preflight import check_run, load_checkpoint, resolve_videos
from .protocols import expand_units, load_protocol


def _log(message: str) -> None:
    if int(os.environ.get("RANK", "0")) == 0:
        print(message, flush=True)


# ----------------------------------------------------------------------------------------- data loaders
def _dataset(video_list, config: dict, model, train: bool, skip_log: Path):
    from ..data.pipeline import VideoListDataset, build_pipeline

    data, evaluation = config["data"], config["eval"]
    size = data["input_size"] or model.input_size
    pipeline = build_pipeline(model.frames, size, train=train, clips=evaluation["clips"], crops=evaluation["crops"],
                              flip=bool(config["train"]["flip"]) and not video_list.temporal,
                              random_offset=data["random_offset"], resize_ratio=data["resize_ratio"])
    views = 1 if train else evaluation["clips"] * evaluation["crops"]
    return VideoListDataset(video_list.entries, video_list.video_root, pipeline, test_mode=not train,
                            skip_log=skip_log, placeholder_shape=(views * model.frames, 3, size, size))


def _loader(dataset, batch_size: int, num_workers: int, shuffle: bool, seed: int) -> dict:
    return dict(dataset=dataset, batch_size=batch_size, num_workers=num_workers,
                persistent_workers=num_workers > 0, sampler=dict(type="DefaultSampler", shuffle=shuffle, seed=seed),
                collate_fn=dict(type="pseudo_collate"))


# ----------------------------------------------------------------------------------------- one unit
def _world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def _rank0() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


_RUNNER_CLASS = None


class _MmengineNoise:
    """Console filter for mmengine's own deprecation notices (its CheckpointHook still builds a FileClient):
    nothing a user can act on, printed by every training. They stay in train.log."""

    NOTICES = ('"FileClient" will be deprecated', '"HardDiskBackend" is the alias of')

    def filter(self, record) -> bool:
        message = record.getMessage()
        return not any(notice in message for notice in self.NOTICES)


def _runner_class():
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


def _runner_kwargs(config: dict, work_dir: Path, seed: int, name: str) -> dict:
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


def _train(model, unit, config: dict, work_dir: Path, skip_log: Path, resume: bool, identity: dict, label: str):
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
    world = _world_size()
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
    if runtime["progress"] and _rank0():
        hooks.append(ProgressHook(label, curve))
    kwargs = _runner_kwargs(config, work_dir, unit.seed + runtime["seed"], unit.label())
    kwargs["default_hooks"]["checkpoint"] = dict(type="CheckpointHook", interval=1, by_epoch=True, max_keep_ckpts=1,
                                                 save_last=True, save_optimizer=True, save_param_scheduler=True)
    runner = _runner_class()(model=model,
                    train_dataloader=_loader(_dataset(video_list, config, model, True, skip_log), per_device,
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


def _train_sample(video_list, limit: int, seed: int):
    """The training videos train top-1 is measured on: all of them, or a fixed seeded sample of ``limit``."""
    import numpy as np

    entries = video_list.entries
    if len(entries) <= limit:
        return video_list, False
    keep = sorted(np.random.RandomState(seed).choice(len(entries), size=limit, replace=False).tolist())
    return replace(video_list, entries=[entries[i] for i in keep], name=f"{video_list.name}-sample"), True


def _evaluate(runner, model, name: str, video_list, config: dict, skip_log: Path) -> dict:
    from mmengine.runner import TestLoop

    video_list, missing = resolve_videos(video_list, config["data"]["allow_missing"])
    listed_before_limit = len(video_list.entries)
    video_list = _limited(video_list, config["eval"]["limit"])
    model.set_class_names(video_list.class_names, video_list.descriptions)
    dataset = _dataset(video_list, config, model, False, skip_log)
    from ..data.pairs import reversal_partners

    partners = reversal_partners(video_list.class_names) if video_list.temporal else None
    loop = TestLoop(runner, _loader(dataset, config["eval"]["batch_size"], config["data"]["num_workers"], False, 0),
                    [dict(type="VideoPredictionMetric", topk=config["eval"]["topk"], partners=partners)])
    runner._test_loop = loop  # hooks (IterTimerHook, LoggerHook) read runner.test_loop / test_dataloader
    cache = FEATURE_CACHE if config["eval"]["feature_cache"] else None
    model.feature_cache = cache
    # options that change the computation without changing the weights (e.g. ActionCLIP's Conv1D view) scope it
    model.feature_cache_scope = rec.config_hash(dict(model=config["model"], backbone=config["backbone"]))
    before = cache.counts() if cache is not None else None
    started = time.perf_counter()
    try:
        if cache is not None:
            model.weights_fingerprint(refresh=True)
        metrics = loop.run()
    finally:
        model.feature_cache = None
    elapsed = time.perf_counter() - started
    reuse = None
    if cache is not None:
        after = cache.counts()
        reuse = dict(hits=after["hits"] - before["hits"], misses=after["misses"] - before["misses"])
    details = getattr(loop.evaluator.metrics[0], "last_details", dict(predictions=[], skipped=[]))
    skipped = missing + details["skipped"]
    failed, present = details["skipped"], len(video_list.entries)  # absent files were allowed (--allow-missing)
    if present and len(failed) / present > config["data"]["max_failed_fraction"]:
        raise HarnessError(f"{len(failed)} of {present} videos of {name!r} could not be read (more than "
                           f"data.max_failed_fraction={config['data']['max_failed_fraction']}; first: "
                           f"{failed[0]['video']}: {failed[0]['reason']}); fix the files or raise the threshold "
                           "with --cfg-options data.max_failed_fraction=...")
    values = {k.split("/", 1)[-1]: v for k, v in metrics.items()}
    n = max(1, len(video_list.entries))
    return dict(name=name, split=video_list.name, num_classes=len(video_list.class_names),
                class_names=list(video_list.class_names),
                metrics=dict(top1=values.get("top1"), top5=values.get("top5"),
                             mean_class_accuracy=values.get("mean_class_accuracy"),
                             n_videos=values.get("n_videos"),
                             **({"direction_accuracy": _finite(values["direction_accuracy"])}
                                if "direction_accuracy" in values else {})),
                # reused encodings are not the model's speed: throughput only from evaluations that computed all
                throughput_clips_per_s=None if reuse and reuse["hits"] else round(n / elapsed, 3),
                eval_wall_s=round(elapsed, 3),
                feature_cache=reuse,
                **({"limited": dict(videos=len(video_list.entries), of=listed_before_limit)}
                   if len(video_list.entries) < listed_before_limit else {}),
                predictions=details["predictions"], skipped=skipped)


def _limited(video_list, limit: int):
    """``eval.limit``: ``limit`` evenly spaced videos of the list (deterministic), for smoke runs only."""
    entries = video_list.entries
    if not limit or len(entries) <= limit:
        return video_list
    return replace(video_list, entries=[entries[i * len(entries) // limit] for i in range(limit)])


def _finite(value):
    return None if value is None or value != value else value  # NaN (no pair in the class set) → null


def _eval_runner(model, config: dict, work_dir: Path, seed: int, name: str):
    kwargs = _runner_kwargs(config, work_dir, seed, name)
    # Evaluation needs no DDP wrapper (and DDP refuses a model without trainable parameters); under torchrun
    # the process group is already initialised, so samplers still shard and the metric still gathers.
    kwargs["launcher"] = "none"
    kwargs.pop("cfg", None)
    runner = _runner_class()(model=model, **kwargs)
    runner.call_hook("before_run")  # hooks set up their log files here (Runner.test() would do it)
    return runner


def run_unit(method: str, config: dict, unit, work_dir: Path, checkpoint: str | None = None,
             resume: bool = False, profile: dict | None = None, identity: dict | None = None) -> dict:
    """Train (if the method has trainable parameters and the unit a training list) and evaluate one unit.
    Everything it writes goes into ``work_dir`` (the run attempt's own folder)."""
    from mmengine.runner import set_random_seed

    from .compat import allow_mmengine_checkpoints
    from ..data.pipeline import read_skip_log

    allow_mmengine_checkpoints()
    seed = unit.seed + config["runtime"]["seed"]
    set_random_seed(seed, deterministic=config["runtime"]["deterministic"])
    identity = identity or workdirs.run_identity(method, work_dir.name, unit.label(), config)
    if _rank0():
        workdirs.write_identity(work_dir, identity)
    skip_log = work_dir / "skipped-train.tsv"
    model = method_class(method)(backbone=config["backbone"], **config["model"])
    counts = model.parameter_counts()
    if profile is not None and not profile:
        profile.update(_profile(method, model))
    training, runner = None, None
    label = f"{method} {unit.label()}"
    if checkpoint:
        load_checkpoint(model, checkpoint)
    elif counts["trainable_params"] > 0 and unit.train is not None and config["train"]["epochs"] > 0:
        runner, training, selection, train_list = _train(model, unit, config, work_dir, skip_log, resume, identity,
                                                         label)
        if _rank0():
            torch.save(model.state_dict(), work_dir / "final_state_dict.pth")
        training["skipped"] = read_skip_log(skip_log)
        model.eval()
        limit = config["runtime"]["train_eval_videos"]
        if limit:
            sample, sampled = _train_sample(train_list, limit, seed)
            fit = _evaluate(runner, model, "train", sample, config, work_dir / "skipped-train-eval.tsv")
            training["train_top1"] = fit["metrics"]["top1"]
            training["train_eval"] = dict(n_videos=fit["metrics"]["n_videos"], sampled=sampled,
                                          of_videos=len(train_list.entries), views="test views (no augmentation)")
        if selection is not None:
            training["validation"] = _evaluate(runner, model, "val-holdout", selection, config,
                                               work_dir / "skipped-val.tsv")
        _log(_training_line(training))
    if runner is None:
        runner = _eval_runner(model, config, work_dir, seed, unit.label())
    model.eval()
    evaluations = []
    for index, (name, dataset_name, split, video_list) in enumerate(unit.evaluations):
        eval_log = work_dir / f"skipped-eval{index}.tsv"
        if eval_log.exists():
            eval_log.unlink()  # the harness's own bookkeeping of an earlier attempt at this same evaluation
        result = _evaluate(runner, model, name, video_list, config, eval_log)
        result["dataset"] = dataset_name
        evaluations.append(result)
        direction = result["metrics"].get("direction_accuracy")
        shown = f"  direction-in-pair {100 * direction:5.1f}% (chance 50%)" if direction is not None else ""
        _log(f"  {name:<28} top1 {100 * (result['metrics']['top1'] or 0):6.2f}%{shown}  "
             f"({result['metrics']['n_videos']} videos, {len(result['skipped'])} skipped)")
        if result["skipped"]:
            _log(_skipped_line(result["skipped"]))
    return dict(model=dict(backbone=config["backbone"]["name"], pretrained=config["backbone"]["pretrained"],
                           quick_gelu=model.backbone_info["quick_gelu"],
                           weights_sha256=model.backbone_info.get("weights_sha256"), frames=model.frames,
                           input_size=config["data"]["input_size"] or model.input_size,
                           normalization=model.backbone_info["normalization"], **counts, **(profile or {})),
                training=training, evaluations=evaluations)


def _training_line(training: dict) -> str:
    fit = f", train top-1 {100 * training['train_top1']:.1f}%" if training.get("train_top1") is not None else ""
    first, last = training["first_loss"], training["final_loss"]
    losses = f"loss {first:.3f} → {last:.3f}" if first is not None and last is not None else "no loss logged"
    return f"  trained {training['iterations']} iterations in {training['wall_s']:.1f} s, {losses}{fit}"


def _skipped_line(skipped: list[dict], show: int = 3) -> str:
    """The first few skipped videos with their reasons; the record holds all of them."""
    names = "; ".join(f"{s['video']} ({s['reason']})" for s in skipped[:show])
    more = f"; and {len(skipped) - show} more" if len(skipped) > show else ""
    return f"    skipped {len(skipped)}: {names}{more} (all listed in the record)"


# ----------------------------------------------------------------------------------------- a whole protocol
def resolve_datasets(protocol: dict, dataset_names: list[str] | None, source_name: str | None, dataset_kwargs: dict):
    from ..data.catalog import load_dataset

    names = dataset_names or protocol["default_datasets"]
    datasets = [load_dataset(n, **(dataset_kwargs if n == "custom" or len(names) == 1 else {})) for n in names]
    source = None
    if protocol["name"] == "zero_shot":
        if source_name is None:
            embedded = all(getattr(d, "kind", "") == "embedded" for d in datasets)
            source_name = protocol["default_source"] if embedded else protocol.get("real_source")
        source = load_dataset(source_name, **({} if source_name.startswith("toy-") else
                                              {k: v for k, v in dataset_kwargs.items() if k == "files_root"}))
    return datasets, source


def run(method: str, protocol_name: str, datasets: list[str] | None = None, source: str | None = None,
        backbone: str | None = None, pretrained: str | None = None, seeds: list[int] | None = None,
        cfg_options: list[str] | None = None, work_dir: str | None = None, force: bool = False,
        checkpoint: str | None = None, resume: bool = False, launcher: str = "none",
        dataset_kwargs: dict | None = None, records_dir: str | None = None, shots: list[int] | None = None,
        allow_missing: bool = False, reproduction: dict | None = None) -> list[dict]:
    """Run one method under one protocol; returns the run records (new or existing).

    Every input is checked before the first side effect (:mod:`harness.engine.preflight`); each unit trains in a
    work folder of its own run id (:mod:`harness.engine.workdirs`), so no command deletes what another made.
    ``checkpoint``: a harness or an official checkpoint of the method (:mod:`harness.models.checkpoints`), evaluated
    instead of training; ``reproduction``: marks the records as the reproduction of a released checkpoint.
    """
    from ..models.checkpoints import read_checkpoint
    from ..models.checkpoints.runs import official_activation, state_for_run
    from .preflight import forget_converted

    protocol = load_protocol(protocol_name)
    dataset_objs, source_obj = resolve_datasets(protocol, datasets, source, dataset_kwargs or {})
    embedded = all(getattr(d, "kind", "") == "embedded" for d in dataset_objs + ([source_obj] if source_obj else []))
    options = list(cfg_options or [])
    options.append(f"runtime.launcher={launcher}")
    if allow_missing:
        options.append("data.allow_missing=true")
    config = build_config(method, embedded, options, backbone, pretrained)
    checkpoint_id, checkpoint_state = None, None
    if checkpoint:
        loaded = read_checkpoint(checkpoint)  # read once, any format; URLs and hub names refused
        note = official_activation(loaded, config, options)
        if note:
            _log(note)
        checkpoint_state, checkpoint_id = state_for_run(method, config, loaded, _log)
    trainable = _needs_training(method, config) and checkpoint is None
    units = expand_units(protocol, dataset_objs, source_obj, seeds, shots, train_source=trainable)
    if config["runtime"]["validation_only"]:  # tuning: the held-out slice of the training list only, no test list
        units = [replace(unit, evaluations=[]) for unit in units]
    records_root = Path(records_dir) if records_dir else default_records_dir()
    work_root = Path(work_dir) if work_dir else default_work_root()
    plan, results, configs = [], {}, {}
    own = embedded_units(method) if embedded else set()
    for index, unit in enumerate(units):
        key = f"{protocol['name']}/{unit.dataset}"
        # a schedule the method's embedded config sets for this protocol on this dataset (cfg-options still win)
        configs[index] = build_config(method, embedded, options, backbone, pretrained, unit=key) if key in own \
            else config
        unit_key = dict(protocol=protocol["name"], protocol_version=protocol["version"], dataset=unit.dataset,
                        seed=unit.seed, shots=unit.shots, checkpoint=checkpoint_id and checkpoint_id["sha256"],
                        file_hashes=unit.file_hashes, weights=_weights_identity(config),
                        **({"reproduction": reproduction["release"]} if reproduction else {}))
        run_id = rec.make_run_id(method, unit.label(), identity_config(configs[index]), unit_key)
        path = rec.record_path(records_root, protocol["name"], method, unit.dataset, run_id)
        if path.exists() and not force:
            _log(f"[skip] {run_id}: record exists ({path}); --force reruns it")
            results[index] = rec.load_record(path)
        else:
            plan.append((index, unit, run_id, path))
    if plan:
        check_run(method, config, [unit for _, unit, _, _ in plan], checkpoint, train=trainable,
                  checkpoint_state=checkpoint_state)
        checkpoint_state = None  # each unit loads into its own freshly built model
        folders = {}
        for index, unit, run_id, _ in plan:
            identity = workdirs.run_identity(method, run_id, unit.label(), identity_config(configs[index]))
            folder = workdirs.resume_folder(work_root, identity) if resume and trainable else None
            if folder is None:
                folder = workdirs.new_attempt(work_root, method, run_id)
                earlier = [f for f in workdirs.attempts(work_root, method, run_id) if workdirs.is_interrupted(f)]
                if earlier and trainable:
                    _log(f"[note] {earlier[-1]} holds an interrupted training of this run (kept); --resume "
                         f"continues it — this run starts afresh in {folder}")
            folders[index] = (folder, identity, folder.exists() and resume)
        _set_threads(config)
        if launcher != "none":
            _init_distributed()
    profile: dict = {}
    for index, unit, run_id, path in plan:
        folder, identity, resuming = folders[index]
        _log(f"[run ] {run_id}" + (f" (resuming {folder})" if resuming else ""))
        started = time.perf_counter()
        outcome = run_unit(method, configs[index], unit, folder, checkpoint, resuming, profile, identity)
        record = dict(schema_version=rec.SCHEMA_VERSION, run_id=run_id, created_utc=rec.now_utc(), method=method,
                      protocol=dict(name=protocol["name"], version=protocol["version"], hash=protocol["hash"]),
                      dataset=unit.dataset, unit=dict(seed=unit.seed, shots=unit.shots, split=None),
                      config=configs[index], environment=rec.environment(), file_hashes=unit.file_hashes,
                      views=dict(clips=config["eval"]["clips"], crops=config["eval"]["crops"]),
                      text=dict(source=config["model"].get("text", {}).get("source", "names"),
                                templates=config["model"].get("text", {}).get("templates", ["{}"])),
                      wall_s=round(time.perf_counter() - started, 3), **outcome, checkpoint=checkpoint_id,
                      work_dir=_shown_path(folder), **({"reproduction": reproduction} if reproduction else {}))
        if _rank0():
            if force and path.exists():
                kept = rec.set_aside(path)
                _log(f"[note] --force: the earlier record of this run is kept as {kept}")
            rec.write_record(record, path)
            _log(f"[done] {path} ({record['wall_s']:.1f} s)")
        results[index] = record
    forget_converted()
    return [results[i] for i in sorted(results)]


def _shown_path(path: Path) -> str:
    """Relative to the checkout when inside it (records stay the same on every machine)."""
    try:
        return str(Path(path).resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def _weights_identity(config: dict) -> str | None:
    """What the backbone weights are, for the run id: a new embedded toy CLIP means new runs."""
    backbone = config["backbone"]
    if backbone["pretrained"] == "embedded":
        from ..models import toyclip

        fingerprint = getattr(toyclip, "fingerprint", None)
        return f"embedded-toy-clip-v{toyclip.VERSION}-{fingerprint()[:12] if fingerprint else ''}"
    return backbone["pretrained"]


def _needs_training(method: str, config: dict) -> bool:
    return bool(getattr(method_class(method), "trainable", True)) and config["train"]["epochs"] > 0


def _profile(method: str, model) -> dict:
    """GMACs per view and per text prompt of the built model (exact counter), measured once per run."""
    from ..models.profile import profile_method

    try:
        with torch.random.fork_rng():  # profiling draws random inputs: keep the unit's RNG stream untouched
            figures = profile_method(method, method=model)
    except Exception as error:  # profiling must never lose a run
        _log(f"[warn] profiling failed: {type(error).__name__}: {error}")
        return {}
    return dict(gmacs_per_view=figures["gmacs_per_view"], text_gmacs=figures["text_gmacs"])


def _set_threads(config: dict) -> None:
    """``runtime.threads`` 0 = auto: one thread for the embedded toy backbone (its ops are too small to
    gain from more, and OpenMP threads spin badly when the cores are shared — measured 10× slower steps),
    torch's default otherwise."""
    threads = config["runtime"]["threads"] or (1 if config["backbone"]["name"] == "toy-vit" else 0)
    if threads:
        torch.set_num_threads(int(threads))


def _init_distributed() -> None:
    """torchrun on CPU: initialise gloo ourselves (mmengine calls torch.cuda.set_device unconditionally)."""
    import torch.distributed as dist

    if "RANK" not in os.environ:
        raise HarnessError("--launcher pytorch needs torchrun (e.g. torchrun --nproc_per_node 2 -m harness run ...)")
    if not dist.is_initialized() and not torch.cuda.is_available():
        dist.init_process_group("gloo")
