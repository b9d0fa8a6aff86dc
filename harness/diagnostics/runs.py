"""The runs an analysis reads: the run records of (method, protocol, dataset), the trained weights of each (the
run's ``final_state_dict.pth``, a ``--checkpoint``, or a fresh training of the same run when asked), the unit's
evaluation lists rebuilt from the protocol, and evaluation passes through the ordinary evaluation code."""
from __future__ import annotations

import copy
from pathlib import Path

from ..engine import workdirs
from ..errors import HarnessError, closest
from ..paths import REPO_ROOT


def source_records(records_dir: Path, method: str, protocol: str, dataset: str,
                   seeds: list[int] | None = None) -> list[dict]:
    """The newest run record per unit of ``method`` / ``protocol`` / ``dataset`` (optionally only ``seeds``)."""
    from ..reports.loading import deduplicate, load_records, on_main_backbone, protocol_name

    kept, _ = deduplicate(on_main_backbone(load_records(Path(records_dir))[0])[0])
    methods = {r["method"] for r in kept}
    if method not in methods:
        raise HarnessError(f"no run records of method {method!r} under {records_dir}{closest(method, methods)}; "
                           f"run `python -m harness run --method {method} --protocol {protocol}` first or pass "
                           "--records DIR")
    mine = [r for r in kept if r["method"] == method and protocol_name(r) == protocol]
    datasets = sorted({r["dataset"] for r in mine})
    chosen = [r for r in mine if r["dataset"] == dataset and (not seeds or r["unit"]["seed"] in seeds)]
    if not chosen:
        raise HarnessError(f"no {protocol} records of {method} on {dataset!r}"
                           f"{' for seeds ' + ','.join(map(str, seeds)) if seeds else ''} under {records_dir} "
                           f"(datasets with records: {', '.join(datasets) or 'none'}); run it first or pick one")
    return sorted(chosen, key=lambda r: (r["unit"].get("shots") or 0, r["unit"]["seed"]))


def find_weights(record: dict, search_roots: list[Path]) -> Path | None:
    """The run's saved final weights: its own work folder (relative to the checkout), then ``<root>/<method>/
    <run_id>[-N]/final_state_dict.pth`` under each search root (newest attempt first)."""
    candidates = []
    if record.get("work_dir"):
        folder = Path(record["work_dir"])
        candidates.append((folder if folder.is_absolute() else REPO_ROOT / folder) / "final_state_dict.pth")
    method = record["config"].get("method") or record["method"]
    for root in search_roots:
        for name in dict.fromkeys([method, record["method"]]):
            candidates += [f / "final_state_dict.pth" for f in reversed(workdirs.attempts(root, name, record["run_id"]))]
    return next((c for c in candidates if c.is_file()), None)


def needs_weights(record: dict) -> bool:
    return bool(record.get("training")) or bool(record.get("checkpoint"))


def train_again(record: dict, work_root: Path) -> Path:
    """Train the record's unit again (same method, protocol, dataset, seed, shots: the same run id when code and
    data are unchanged) into ``work_root`` and return its final weights. Its run record goes to
    ``<work_root>/diagnostics-records`` (scratch), never into the analysed records folder."""
    from ..engine.runner import run

    protocol, unit = record["protocol"]["name"], record["unit"]
    targets = list(dict.fromkeys(e.get("dataset") for e in record["evaluations"] if e.get("dataset")))
    kwargs = dict(datasets=targets, source=record["dataset"]) if protocol == "zero_shot" else \
        dict(datasets=[record["dataset"]])
    method = record["config"].get("method") or record["method"]
    new = run(method, protocol, seeds=[unit["seed"]], shots=[unit["shots"]] if protocol == "few_shot" else None,
              records_dir=str(Path(work_root) / "diagnostics-records"), work_dir=str(work_root), **kwargs)
    match = [r for r in new if r["run_id"] == record["run_id"]]
    if not match:
        raise HarnessError(f"training {method} again gave run id(s) {', '.join(r['run_id'] for r in new)}, not "
                           f"{record['run_id']}: the code, config or data changed since that record; rerun the "
                           "sweep first so records and checkpoints match")
    weights = find_weights(match[0], [Path(work_root)])
    if weights is None:
        raise HarnessError(f"training {method} again left no final_state_dict.pth under {work_root}")
    return weights


def resolve_weights(record: dict, checkpoint: str | None, search_roots: list[Path], train_missing: bool,
                    work_root: Path) -> Path | None:
    """What to load for ``record``: ``checkpoint``, the run's saved weights, a fresh training, or None (frozen)."""
    if checkpoint:
        path = Path(checkpoint)
        if not path.is_file():
            raise HarnessError(f"checkpoint {checkpoint} does not exist; give the path of a run's "
                               "final_state_dict.pth (work_dirs/<method>/<run_id>/) or of a converted checkpoint")
        return path
    if not needs_weights(record):
        return None
    found = find_weights(record, search_roots)
    if found is not None:
        return found
    if record.get("checkpoint") and not record.get("training"):
        raise HarnessError(f"{record['run_id']} evaluated a given checkpoint; pass the same file with --checkpoint")
    if not train_missing:
        roots = ", ".join(str(r) for r in search_roots)
        raise HarnessError(f"no saved weights of {record['run_id']} (looked in its work_dir {record.get('work_dir')} "
                           f"and under {roots}); pass --checkpoint PTH, --checkpoints DIR where the runs' work "
                           "folders are, or --train-missing to train the unit again")
    return train_again(record, work_root)


def rebuild_unit(record: dict):
    """The protocol unit of ``record`` with its evaluation lists, refusing if the class/split files changed."""
    from ..engine.protocols import expand_units, load_protocol
    from ..engine.runner import resolve_datasets

    protocol = load_protocol(record["protocol"]["name"])
    unit_info = record["unit"]
    targets = list(dict.fromkeys(e.get("dataset") or record["dataset"] for e in record["evaluations"]))
    if protocol["name"] == "zero_shot":
        datasets, source = resolve_datasets(protocol, targets, record["dataset"] if record.get("training") else None,
                                            {})
    else:
        datasets, source = resolve_datasets(protocol, [record["dataset"]], None, {})
    shots = [unit_info["shots"]] if protocol["name"] == "few_shot" and unit_info.get("shots") else None
    units = expand_units(protocol, datasets, source, [unit_info["seed"]], shots, train_source=False)
    unit = next((u for u in units if u.seed == unit_info["seed"] and u.shots == unit_info.get("shots")), None)
    if unit is None:
        raise HarnessError(f"protocol {protocol['name']} no longer has the unit of {record['run_id']}")
    changed = sorted(k for k, v in unit.file_hashes.items() if record.get("file_hashes", {}).get(k, v) != v)
    if changed:
        raise HarnessError(f"{record['run_id']} was evaluated on other class/split files than the ones here "
                           f"({changed[0]} changed): the benchmark was regenerated since; rerun the run (or sweep) "
                           "and analyse the new records")
    return unit


class EvaluationSession:
    """One analysed run: its model (weights loaded, eval mode), an evaluation runner and the rebuilt unit."""

    def __init__(self, record: dict, weights: Path | None, work_dir: Path):
        from mmengine.runner import set_random_seed

        from ..engine.compat import allow_mmengine_checkpoints
        from ..engine.evaluation import eval_runner
        from ..engine.preflight import load_checkpoint
        from ..engine.runner import set_threads
        from ..models.methods_registry import method_class

        allow_mmengine_checkpoints()
        self.record = record
        self.config = copy.deepcopy(record["config"])
        self.config["eval"]["feature_cache"] = False  # reordered frames must never be served cached encodings
        self.config["runtime"]["launcher"] = "none"
        self.unit = rebuild_unit(record)
        seed = self.unit.seed + self.config["runtime"]["seed"]
        set_random_seed(seed, deterministic=self.config["runtime"]["deterministic"])
        set_threads(self.config)  # as `run` does (one thread for the embedded toy backbones)
        method = self.config.get("method") or record["method"]
        self.model = method_class(method)(backbone=self.config["backbone"], **self.config["model"])
        if weights is not None:
            load_checkpoint(self.model, str(weights))
        self.model.eval()
        self.work_dir = Path(work_dir)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.runner = eval_runner(self.model, self.config, self.work_dir, seed, self.unit.label())

    def evaluate(self, name: str, video_list) -> dict:
        from ..engine.evaluation import evaluate

        return evaluate(self.runner, self.model, name, video_list, self.config, self.work_dir / "skipped.tsv")


def slim_predictions(result: dict) -> list[dict]:
    """The per-video fields the tables use (video, label, pred, direction), not the top-k lists."""
    keep = ("video", "label", "pred", "direction")
    return [{k: p[k] for k in keep if k in p} for p in result["predictions"]]
