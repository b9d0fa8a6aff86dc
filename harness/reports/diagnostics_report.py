"""The diagnostics' part of ``tables``: the temporal-reliance and motion-term tables and plots, the prompt-attention
heat maps (from ``<records>/diagnostics/``) and the backbone axis (from the base2novel run records)."""
from __future__ import annotations

from functools import partial
from pathlib import Path

from ..diagnostics.store import load_diagnostics
from .attention_maps import write_attention_plots
from .backbones import build_backbones, write_backbone_plot
from .motion import build_motion, write_motion_plot
from .temporal import build_temporal


def build_diagnostics(records_dir: Path, raw_records: list[dict]) -> tuple[list, list, dict]:
    """(tables, plot writers, diagnostic records by table stem); each writer takes the results folder and returns
    the PNG paths it wrote."""
    tables, writers = [], []
    by_stem = {"temporal": load_diagnostics(records_dir, "temporal"), "motion_terms": load_diagnostics(records_dir,
                                                                                                          "motion")}
    temporal = build_temporal(by_stem["temporal"])
    if temporal is not None:
        tables.append(temporal)
    motion, summary = build_motion(by_stem["motion_terms"])
    if motion is not None:
        tables.append(motion)
        writers.append(partial(write_motion_plot, summary))
    attention = load_diagnostics(records_dir, "attention")
    if attention:
        writers.append(partial(write_attention_plots, attention))
    backbones, rows = build_backbones(raw_records)
    if backbones is not None:
        tables.append(backbones)
        writers.append(partial(write_backbone_plot, rows))
    by_stem["attention"] = attention
    return tables, writers, by_stem
