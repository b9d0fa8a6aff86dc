"""Running the diagnostics on one analysed run and writing their records: the frame-order views (``temporal``),
the motion-loss terms (``motion``) and EZ-CLIP's prompt attention (``attention``). The in-order pass is shared:
motion terms and attention are captured while it runs, so asking for several kinds costs one pass plus one per
extra frame view."""
from __future__ import annotations

import contextlib
import time
from pathlib import Path

from ..engine import records as rec
from ..engine.distributed import log
from ..engine.preflight import file_sha256
from . import motion_terms, prompt_attention
from .runs import EvaluationSession, resolve_weights, slim_predictions
from .store import SCHEMA_VERSION, analysis_id, diagnostic_path, write_diagnostic
from .temporal_views import FRAME_VIEWS, SHUFFLE_SEED, frame_view


def _shown(path: Path | None) -> str | None:
    from ..paths import REPO_ROOT

    if path is None:
        return None
    try:
        return str(Path(path).resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def supports_attention(record: dict) -> bool:
    """EZ-CLIP (or a variant) with its temporal prompts on."""
    from ..models.methods_registry import method_class

    try:
        from methods.ezclip import EZCLIP
    except ImportError:
        return False
    method = record["config"].get("method") or record["method"]
    return issubclass(method_class(method), EZCLIP) and bool(record["config"]["model"].get("prompts", True))


def analyse_run(record: dict, kinds: list[str], records_dir: Path, work_root: Path, checkpoint: str | None = None,
                search_roots: list[Path] | None = None, train_missing: bool = False, force: bool = False,
                shuffle_seed: int = SHUFFLE_SEED) -> list[Path]:
    """Write the diagnostic records of ``kinds`` for one run record; existing ones are kept unless ``force``."""
    kinds = [k for k in kinds if k != "attention" or supports_attention(record)]
    search_roots = list(search_roots or []) + [Path(work_root)]
    settings = dict(temporal=dict(views=list(FRAME_VIEWS), shuffle_seed=shuffle_seed), motion=dict(), attention=dict())
    weights = None
    todo, done = {}, []
    for kind in kinds:
        ident = analysis_id(kind, record["run_id"], dict(settings[kind], checkpoint=checkpoint))
        path = diagnostic_path(records_dir, kind, record["method"], record["dataset"], ident)
        if path.exists() and not force:
            log(f"[skip] {ident}: diagnostic record exists ({path}); --force redoes it")
            done.append(path)
        else:
            todo[kind] = (ident, path)
    if not todo:
        return done
    weights = resolve_weights(record, checkpoint, search_roots, train_missing, Path(work_root))
    started = time.perf_counter()
    session = EvaluationSession(record, weights, Path(work_root) / "diagnostics" / record["run_id"])
    results = {kind: [] for kind in todo}
    for name, dataset, split, video_list in session.unit.evaluations:
        with contextlib.ExitStack() as stack:
            motion = stack.enter_context(motion_terms.capture(session.model)) if "motion" in todo else None
            attention = stack.enter_context(prompt_attention.capture(session.model)) if "attention" in todo else None
            in_order = session.evaluate(name, video_list)
        base = dict(name=name, dataset=dataset, split=split, num_classes=len(video_list.class_names),
                    class_names=list(video_list.class_names))
        if "temporal" in todo:
            views = [_view_result(base, "in_order", list(range(session.model.frames)), in_order)]
            for view in FRAME_VIEWS[1:]:
                with frame_view(session.model, view, shuffle_seed) as indices:
                    views.append(_view_result(base, view, indices, session.evaluate(f"{name}@{view}", video_list)))
            results["temporal"] += views
        if motion is not None:
            results["motion"].append(dict(base, metrics=in_order["metrics"], terms=motion.summary()))
        if attention is not None:
            results["attention"].append(dict(base, attention=attention.summary(list(video_list.class_names))))
        log(f"  {record['run_id']} {name}: " + ", ".join(f"{k} done" for k in todo))
    wall = round(time.perf_counter() - started, 3)
    weights_info = None if weights is None else dict(path=_shown(weights), sha256=file_sha256(weights))
    for kind, (ident, path) in todo.items():
        diagnostic = dict(schema_version=SCHEMA_VERSION, kind=kind, analysis_id=ident, created_utc=rec.now_utc(),
                          method=record["method"], protocol=record["protocol"], dataset=record["dataset"],
                          unit=record["unit"], settings=settings[kind],
                          source=dict(run_id=record["run_id"], record=record.get("_path"),
                                      created_utc=record.get("created_utc")),
                          weights=weights_info, model=record.get("model"), config=record["config"],
                          environment=rec.environment(), wall_s=wall, evaluations=results[kind])
        if force and path.exists():
            rec.set_aside(path)
        write_diagnostic(diagnostic, path)
        log(f"[done] {path}")
        done.append(path)
    return done


def _view_result(base: dict, view: str, indices: list[int], result: dict) -> dict:
    return dict(base, view=view, frame_indices=list(indices), metrics=result["metrics"],
                predictions=slim_predictions(result), skipped=result["skipped"])
