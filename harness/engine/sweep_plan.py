"""What a sweep will run, before it runs: its units as jobs (``plan_jobs``), each unit's estimated cost
(``sweep --plan``) and where each stands (``sweep --status``: done / running / failed / pending).

Cost per unit, from the harness's own exact MAC counts (:mod:`harness.models.profile`, visual path of one view):
training = 3 × GMACs/view × train videos × epochs (forward + backward ≈ 3 forwards, one view per training clip);
evaluation = GMACs/view × eval videos × views (clips × crops). The text tower (once per class set) is left out.
Clip-hours = (3 × train clips + eval views) / throughput (forward clips per second) / 3600.
"""
from __future__ import annotations

from pathlib import Path

#: forward + backward of one training clip in forward-pass units (backward ≈ 2 forwards)
TRAIN_FACTOR = 3


def plan_jobs(args, records_root: Path) -> list[tuple[dict, "UnitJob"]]:
    """Every unit of methods × protocols × datasets × seeds (× shots) with its job; nothing is trained."""
    from .executors import UnitJob, unit_argv
    from .runner import plan_units
    from .sweep import _jobs, _shots

    out = []
    for method, protocol in _jobs(args):  # methods' sweep: scopes applied (harness.engine.sweep)
        for planned in plan_units(method, protocol, datasets=args.datasets, backbone=args.backbone,
                                  pretrained=args.pretrained, seeds=args.seeds, cfg_options=args.cfg_options,
                                  records_dir=str(records_root), shots=_shots(method, protocol, args)):
            job = UnitJob(method=method, protocol=protocol, label=planned["unit"].label(),
                          run_id=planned["run_id"], record=str(planned["record"]), records_root=str(records_root),
                          run_argv=unit_argv(planned, args.datasets, args, records_root),
                          gpus=max(1, getattr(args, "gpus_per_unit", 1) or 1), trainable=planned["trainable"])
            out.append((planned, job))
    # the longest jobs first (trained units), so parallel workers finish together
    out.sort(key=lambda pair: not pair[1].trainable)
    return out


def _gmacs_per_view(method: str, config: dict, cache: dict) -> float:
    key = (method, repr(config["backbone"]), repr(config["model"]))
    if key not in cache:
        import torch

        from ..models.methods_registry import method_class
        from ..models.profile import profile_method

        model = method_class(method)(backbone=config["backbone"], **config["model"])
        with torch.random.fork_rng():
            cache[key] = profile_method(method, method=model)["gmacs_per_view"]
    return cache[key]


def _limited(n: int, limit: int) -> int:
    return min(n, limit) if limit else n


def unit_cost(planned: dict, cache: dict) -> dict:
    """Videos, epochs, views and GMACs of one unit (see the module docstring for the formula)."""
    config, unit = planned["config"], planned["unit"]
    per_view = _gmacs_per_view(planned["method"], config, cache)
    train_videos = len(unit.train.entries) if planned["trainable"] and unit.train is not None else 0
    epochs = config["train"]["epochs"] if train_videos else 0
    views = config["eval"]["clips"] * config["eval"]["crops"]
    eval_videos = sum(_limited(len(video_list.entries), config["eval"]["limit"])
                      for _, _, _, video_list in unit.evaluations)
    return dict(gmacs_per_view=per_view, train_videos=train_videos, epochs=epochs, eval_videos=eval_videos,
                views=views, train_gmacs=TRAIN_FACTOR * per_view * train_videos * epochs,
                eval_gmacs=per_view * eval_videos * views,
                forward_clips=TRAIN_FACTOR * train_videos * epochs + eval_videos * views)


def plan_table(pairs, throughput: float) -> tuple[list[str], list[list], dict]:
    """Rows of ``sweep --plan`` and the totals; ``throughput`` in forward clips per second."""
    cache, rows = {}, []
    totals = dict(units=0, train_gmacs=0.0, eval_gmacs=0.0, clip_hours=0.0, all_train_gmacs=0.0, all_eval_gmacs=0.0,
                  all_clip_hours=0.0)
    for planned, job in pairs:
        cost = unit_cost(planned, cache)
        hours = cost["forward_clips"] / throughput / 3600
        state = "done" if Path(job.record).exists() else "to-run"
        rows.append([job.method, job.label, state, cost["gmacs_per_view"], cost["train_videos"], cost["epochs"],
                     cost["eval_videos"], cost["views"], round(cost["train_gmacs"], 1), round(cost["eval_gmacs"], 1),
                     round(hours, 4)])
        totals["all_train_gmacs"] += cost["train_gmacs"]
        totals["all_eval_gmacs"] += cost["eval_gmacs"]
        totals["all_clip_hours"] += hours
        if state == "to-run":
            totals["units"] += 1
            totals["train_gmacs"] += cost["train_gmacs"]
            totals["eval_gmacs"] += cost["eval_gmacs"]
            totals["clip_hours"] += hours
    headers = ["method", "unit", "state", "GMACs/view", "train videos", "epochs", "eval videos", "views",
               "train GMACs", "eval GMACs", "clip-hours"]
    return headers, rows, totals


def unit_state(job) -> tuple[str, str]:
    """(done | running | failed | pending, detail) of one unit, from its record, lock and failure file."""
    from .executors import failure_path, lock_path
    from .locks import is_stale, read_lock

    if Path(job.record).exists():
        return "done", ""
    lock = lock_path(job.records_root, job.run_id)
    if lock.exists() and not is_stale(lock):
        owner = read_lock(lock) or {}
        where = f"{owner.get('host', '?')} pid {owner.get('pid', '?')}"
        return "running", where + (f" (Slurm job {owner['job']})" if owner.get("job") else "")
    failed = failure_path(job.records_root, job.run_id)
    if failed.exists():
        return "failed", failed.read_text(encoding="utf-8").strip().split(": ", 1)[-1]
    return "pending", ""
