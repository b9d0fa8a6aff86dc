"""The diagnostics' part of ``tables``: the temporal-reliance and motion-term tables and plots, the prompt-attention
heat maps (from ``<records>/diagnostics/``) and the backbone axis (from the base2novel run records)."""
from __future__ import annotations

import logging
from functools import partial
from pathlib import Path

from ..diagnostics.store import load_diagnostics
from .attention_maps import write_attention_plots
from .backbones import build_backbones, write_backbone_plot
from .loading import deduplicate, on_main_backbone
from .motion import build_motion, write_motion_plot
from .temporal import build_temporal, write_temporal_plot

log = logging.getLogger(__name__)


def _current(diagnostics: list[dict], run_ids: set[str]) -> list[dict]:
    """Only diagnostics of runs whose records are still in the folder: after a new sweep (new run ids) the old
    diagnostic records stay on disk but are not tabled beside the new ones; `analyze all` makes the new ones."""
    kept = [d for d in diagnostics if d["source"]["run_id"] in run_ids]
    if len(kept) < len(diagnostics):
        log.warning("%d diagnostic record(s) analyse runs that are no longer in the records (left out of the tables; "
                    "rerun `python -m harness analyze all`): %s", len(diagnostics) - len(kept),
                    ", ".join(sorted(d["_path"] for d in diagnostics if d not in kept)))
    return kept


def build_diagnostics(records_dir: Path, raw_records: list[dict]) -> tuple[list, list, dict]:
    """(tables, plot writers, diagnostic records by table stem); each writer takes the results folder and returns
    the PNG paths it wrote."""
    tables, writers = [], []
    current = {r["run_id"] for r in deduplicate(on_main_backbone(raw_records)[0])[0]}
    by_stem = {"temporal": _current(load_diagnostics(records_dir, "temporal"), current),
               "motion_terms": _current(load_diagnostics(records_dir, "motion"), current)}
    temporal = build_temporal(by_stem["temporal"])
    if temporal is not None:
        tables.append(temporal)
        writers.append(partial(write_temporal_plot, by_stem["temporal"]))
    motion, summary = build_motion(by_stem["motion_terms"])
    if motion is not None:
        tables.append(motion)
        writers.append(partial(write_motion_plot, summary))
    attention = _current(load_diagnostics(records_dir, "attention"), current)
    if attention:
        writers.append(partial(write_attention_plots, attention))
    backbones, rows = build_backbones(raw_records)
    if backbones is not None:
        tables.append(backbones)
        writers.append(partial(write_backbone_plot, rows))
    by_stem["attention"] = attention
    return tables, writers, by_stem
