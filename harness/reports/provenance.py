"""The provenance tables: per row of a protocol table, what produced it (backbone, frames, input, views, text,
units, videos, protocol version, git revision of the records)."""
from __future__ import annotations

from .render import DASH, Table, join_values


def git_text(rec: dict) -> str:
    env = rec.get("environment") or {}
    rev = str(env.get("git_revision") or "")[:7] or DASH
    return rev + ("+dirty" if env.get("git_dirty") else "")


def text_source(rec: dict) -> str:
    text = rec.get("text") or {}
    templates = text.get("templates") or []
    shown = templates[0] if len(templates) == 1 else f"{len(templates)} templates"
    return f"{text.get('source', DASH)}: {shown}" if templates else str(text.get("source", DASH))


def views_text(rec: dict) -> str:
    views = rec.get("views") or {}
    return f"{views.get('clips', DASH)}×{views.get('crops', DASH)}"


def provenance_table(stem: str, title: str, groups: dict[tuple[str, str], list[dict]], row_name: str,
                     units_label: str, units_of, videos_of) -> Table:
    """One row per (method, dataset) with what produced it (records with differing values show them all)."""
    header = ["method", row_name, "backbone", "frames", "input", "views (clips×crops)", "text", units_label,
              "videos", "protocol v", "git", "records"]
    rows = []
    for (method, row), recs in sorted(groups.items()):
        model = [r.get("model") or {} for r in recs]
        rows.append([method, row, join_values(m.get("backbone") for m in model),
                     join_values(m.get("frames") for m in model), join_values(m.get("input_size") for m in model),
                     join_values(views_text(r) for r in recs),
                     join_values(text_source(r) for r in recs), units_of(recs), videos_of(recs),
                     join_values(r["protocol"].get("version") for r in recs), join_values(git_text(r) for r in recs),
                     str(len(recs))])
    return Table(stem, title, header, rows, header, rows,
                 ["Views: clips × crops per video. Input: square side in pixels. Git: short harness revision "
                  "that wrote the records (+dirty: uncommitted changes)."])
