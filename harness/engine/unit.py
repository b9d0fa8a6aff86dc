"""One protocol unit: build the method, train it (or load a checkpoint), measure train top-1 and the held-out
slice, evaluate it on each of the unit's lists; returns the record's model, training and evaluation parts."""
from __future__ import annotations

from pathlib import Path

import torch

from . import workdirs
from ..models.methods_registry import method_class
from .distributed import is_rank0, log
from .evaluation import eval_runner, evaluate, train_sample
from .preflight import load_checkpoint
from .training import train_unit


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
    if is_rank0():
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
        runner, training, selection, train_list = train_unit(model, unit, config, work_dir, skip_log, resume, identity,
                                                         label)
        if is_rank0():
            torch.save(model.state_dict(), work_dir / "final_state_dict.pth")
        training["skipped"] = read_skip_log(skip_log)
        model.eval()
        limit = config["runtime"]["train_eval_videos"]
        if limit:
            sample, sampled = train_sample(train_list, limit, seed)
            fit = evaluate(runner, model, "train", sample, config, work_dir / "skipped-train-eval.tsv")
            training["train_top1"] = fit["metrics"]["top1"]
            training["train_eval"] = dict(n_videos=fit["metrics"]["n_videos"], sampled=sampled,
                                          of_videos=len(train_list.entries), views="test views (no augmentation)")
        if selection is not None:
            training["validation"] = evaluate(runner, model, "val-holdout", selection, config,
                                               work_dir / "skipped-val.tsv")
        log(_training_line(training))
    if runner is None:
        runner = eval_runner(model, config, work_dir, seed, unit.label())
    model.eval()
    evaluations = []
    for index, (name, dataset_name, split, video_list) in enumerate(unit.evaluations):
        eval_log = work_dir / f"skipped-eval{index}.tsv"
        if eval_log.exists():
            eval_log.unlink()  # the harness's own bookkeeping of an earlier attempt at this same evaluation
        result = evaluate(runner, model, name, video_list, config, eval_log)
        result["dataset"] = dataset_name
        evaluations.append(result)
        direction = result["metrics"].get("direction_accuracy")
        shown = f"  direction-in-pair {100 * direction:5.1f}% (chance 50%)" if direction is not None else ""
        log(f"  {name:<28} top1 {100 * (result['metrics']['top1'] or 0):6.2f}%{shown}  "
             f"({result['metrics']['n_videos']} videos, {len(result['skipped'])} skipped)")
        if result["skipped"]:
            log(_skipped_line(result["skipped"]))
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


def _profile(method: str, model) -> dict:
    """GMACs per view and per text prompt of the built model (exact counter), measured once per run."""
    from ..models.profile import profile_method

    try:
        with torch.random.fork_rng():  # profiling draws random inputs: keep the unit's RNG stream untouched
            figures = profile_method(method, method=model)
    except Exception as error:  # profiling must never lose a run
        log(f"[warn] profiling failed: {type(error).__name__}: {error}")
        return {}
    return dict(gmacs_per_view=figures["gmacs_per_view"], text_gmacs=figures["text_gmacs"])
