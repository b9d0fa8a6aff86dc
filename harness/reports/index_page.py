"""``results/index.html``: one static page with every table (sortable), every plot, each row's provenance and the
published numbers beside the measured ones, visibly marked as published. Written by ``tables``.

Why it is built like this: the page must open from disk with no server and no network, so its CSS, JavaScript and
data are inline and plots are linked by relative path (``plots/*.png``); it is generated from the same Table
objects as the Markdown/CSV/LaTeX files, with no timestamps, so it is byte-for-byte reproducible."""
from __future__ import annotations

import html
import os
from pathlib import Path

from .render import Table

PROTOCOL_SECTIONS = ("base2novel", "zero_shot", "few_shot")

_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222;max-width:110em}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}h3{font-size:1em}
table{border-collapse:collapse;font-size:.8em;margin:.5em 0}
th,td{border:1px solid #ccc;padding:.2em .45em;text-align:left;vertical-align:top}
th{background:#eef;cursor:pointer;user-select:none;white-space:nowrap}
th.sorted-asc::after{content:" \\25B2"}th.sorted-desc::after{content:" \\25BC"}
tr:nth-child(even) td{background:#fafafa}
.side{display:flex;gap:1.5em;flex-wrap:wrap;align-items:flex-start}
.published{background:#fff4d6;border:2px dashed #c98a00;padding:.5em;max-width:60em}
.published table td{background:#fff9e8}
.badge{display:inline-block;background:#c98a00;color:#fff;font-weight:bold;padding:0 .4em;border-radius:.2em;
font-size:.75em;margin-right:.4em}
.notes{font-size:.78em;color:#444}.notes li{margin:.15em 0}
img{max-width:100%;border:1px solid #ddd;margin:.5em 0}
nav a{margin-right:.8em;font-size:.85em}td a{white-space:nowrap}
"""

# Sorting: numbers (the first number in a cell, so "41.3 [38.0, 44.5]" sorts by 41.3) before text; a second click on
# the same header reverses. Rows move inside their own tbody, so each table sorts independently.
_JS = """
function cellKey(text){var m=text.replace(/\\u2212/g,'-').match(/[-+]?\\d+(?:\\.\\d+)?(?:e[-+]?\\d+)?/i);
return m?[0,parseFloat(m[0]),text]:[1,0,text];}
function compareKeys(a,b){if(a[0]!==b[0])return a[0]-b[0];if(a[0]===0&&a[1]!==b[1])return a[1]-b[1];
return a[2]<b[2]?-1:a[2]>b[2]?1:0;}
function sortTable(th){var table=th.closest('table'),body=table.tBodies[0],col=th.cellIndex;
var desc=th.classList.contains('sorted-asc');
Array.prototype.forEach.call(table.tHead.rows[0].cells,function(c){c.classList.remove('sorted-asc','sorted-desc');});
th.classList.add(desc?'sorted-desc':'sorted-asc');
var rows=Array.prototype.slice.call(body.rows);
rows.sort(function(r1,r2){var k=compareKeys(cellKey(r1.cells[col].textContent),cellKey(r2.cells[col].textContent));
return desc?-k:k;});
rows.forEach(function(r){body.appendChild(r);});}
document.addEventListener('DOMContentLoaded',function(){
document.querySelectorAll('table.sortable th').forEach(function(th){th.addEventListener('click',function(){sortTable(th);});});
});
"""


def _rel(path: Path, start: Path) -> str:
    return Path(os.path.relpath(Path(path).resolve(), Path(start).resolve())).as_posix()


def _table_html(table: Table, provenance: dict | None = None, css: str = "sortable",
                diagnostics: dict | None = None) -> str:
    header = list(table.header) + (["runs (provenance)"] if provenance is not None else [])
    method_col = table.header.index("method") if "method" in table.header else None
    dataset_col = table.header.index("dataset") if "dataset" in table.header else None
    out = [f'<table class="{css}" id="table-{html.escape(table.stem)}" data-stem="{html.escape(table.stem)}">',
           "<thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr></thead><tbody>"]
    for row in table.rows:
        cells = "".join(f"<td>{html.escape(c.replace('**', '').replace('`', ''))}</td>" for c in row)
        if provenance is not None:
            method = row[method_col].replace("**", "").strip() if method_col is not None else None
            dataset = row[dataset_col] if dataset_col is not None else None
            protocol = next((p for p in PROTOCOL_SECTIONS if table.stem == p or table.stem.startswith(p + "_")), None)
            if diagnostics and table.stem in diagnostics:  # a diagnostic table: its rows come from diagnostic records
                runs = [d for d in diagnostics[table.stem] if d["method"] == method and
                        (dataset is None or d["dataset"] == dataset)]
                links = " ".join(f'<a href="#diag-{html.escape(d["analysis_id"])}" title="{html.escape(d["analysis_id"])}">'
                                 f"{html.escape(_run_label(d))}</a>" for d in runs)
            else:
                runs = [r for r in provenance.get(method, []) if (dataset is None or r["dataset"] == dataset)
                        and (protocol is None or r["protocol"].get("name") == protocol)]
                links = " ".join(f'<a href="#run-{html.escape(r["run_id"])}" title="{html.escape(r["run_id"])}">'
                                 f"{html.escape(_run_label(r))}</a>" for r in runs)
            cells += f"<td>{links or '—'}</td>"
        out.append(f"<tr>{cells}</tr>")
    out.append("</tbody></table>")
    if table.notes:
        out.append('<ul class="notes">' + "".join(f"<li>{html.escape(n)}</li>" for n in table.notes) + "</ul>")
    return "\n".join(out)


def _run_label(record: dict) -> str:
    """Short link text for a run: dataset, seed and K (the full run id is the link's tooltip)."""
    unit = record.get("unit") or {}
    shots = f" K{unit['shots']}" if unit.get("shots") and record["protocol"].get("name") == "few_shot" else ""
    return f"{record['dataset']} s{unit.get('seed')}{shots}"


def _published_html(published: Table | None, protocol: str) -> str:
    if published is None:
        return ""
    rows = [r for r in published.rows if r[0] == protocol]
    if not rows:
        return ""
    part = Table(f"published-{protocol}", published.title, published.header, rows, [], [], [])
    return ('<div class="published"><h3><span class="badge">PUBLISHED</span>published numbers, not measured here '
            "(ViT-B/16, the papers' own data; harness/reports/published.py)</h3>" + _table_html(part) + "</div>")


def _run_rows(records: list[dict], records_dir: Path, results_dir: Path) -> str:
    header = ["run", "method", "protocol", "dataset", "unit", "backbone / weights", "frames", "epochs", "lr",
              "torch", "open_clip", "git revision", "record"]
    out = ['<table class="sortable" id="table-runs"><thead><tr>' +
           "".join(f"<th>{h}</th>" for h in header) + "</tr></thead><tbody>"]
    for r in sorted(records, key=lambda r: (r["method"], str(r["protocol"].get("name")), r["dataset"], r["run_id"])):
        config, env = r.get("config") or {}, r.get("environment") or {}
        versions = env.get("versions") or {}
        revision = env.get("git_revision") or "—"
        if env.get("git_dirty"):
            revision = f"{revision} (uncommitted changes)"
        train = config.get("train") or {}
        lr = (train.get("optimizer") or {}).get("lr")
        unit = r.get("unit") or {}
        unit_text = ", ".join(f"{k} {v}" for k, v in unit.items() if v is not None)
        backbone = config.get("backbone") or {}
        link = _rel(records_dir / r["_path"], results_dir) if r.get("_path") else None
        cells = [r["run_id"], r["method"], str(r["protocol"].get("name")), r["dataset"], unit_text,
                 f"{backbone.get('name', '—')} / {backbone.get('pretrained', '—')}",
                 str((config.get("model") or {}).get("frames", "—")), str(train.get("epochs", "—")),
                 "—" if lr is None else f"{lr:g}", str(versions.get("torch", "—")), str(versions.get("open_clip_torch",
                 versions.get("open_clip", "—"))), str(revision)]
        body = "".join(f"<td>{html.escape(c)}</td>" for c in cells)
        body += f'<td><a href="{html.escape(link)}">{html.escape(r["_path"])}</a></td>' if link else "<td>—</td>"
        out.append(f'<tr id="run-{html.escape(r["run_id"])}">{body}</tr>')
    out.append("</tbody></table>")
    return "\n".join(out)


def _diagnostic_rows(diagnostics: dict, records_dir: Path, results_dir: Path) -> str:
    header = ["analysis", "kind", "method", "dataset", "unit", "analysed run", "weights (sha256)", "torch",
              "git revision", "record"]
    out = ['<table class="sortable" id="table-diagnostic-records"><thead><tr>' +
           "".join(f"<th>{h}</th>" for h in header) + "</tr></thead><tbody>"]
    seen = {}
    for group in diagnostics.values():
        for d in group:
            seen[d["analysis_id"]] = d
    for ident in sorted(seen):
        d = seen[ident]
        env, weights = d.get("environment") or {}, d.get("weights") or {}
        unit = ", ".join(f"{k} {v}" for k, v in (d.get("unit") or {}).items() if v is not None)
        cells = [ident, d["kind"], d["method"], d["dataset"], unit]
        body = "".join(f"<td>{html.escape(c)}</td>" for c in cells)
        body += f'<td><a href="#run-{html.escape(d["source"]["run_id"])}">{html.escape(d["source"]["run_id"])}</a></td>'
        shown = f"{weights['path']} ({weights['sha256'][:12]})" if weights else "frozen (backbone weights)"
        body += "".join(f"<td>{html.escape(c)}</td>" for c in (shown, str((env.get("versions") or {}).get("torch", "—")),
                                                              str(env.get("git_revision") or "—")))
        link = _rel(records_dir / d["_path"], results_dir)
        body += f'<td><a href="{html.escape(link)}">{html.escape(d["_path"])}</a></td>'
        out.append(f'<tr id="diag-{html.escape(ident)}">{body}</tr>')
    out.append("</tbody></table>")
    return "\n".join(out)


def render_index(tables: list[Table], plots: list[Path], records: list[dict], records_dir: Path,
                 results_dir: Path, diagnostics: dict | None = None) -> str:
    """The page's HTML (no timestamps: identical for identical inputs)."""
    provenance: dict = {}
    for r in records:
        provenance.setdefault(r["method"], []).append(r)
    for runs in provenance.values():
        runs.sort(key=lambda r: (str(r["protocol"].get("name")), r["dataset"], r["run_id"]))
    published = next((t for t in tables if t.stem == "published"), None)
    measured = [t for t in tables if t.stem != "published"]
    sections, nav = [], []
    done = set()
    for protocol in PROTOCOL_SECTIONS:
        mine = [t for t in measured if t.stem == protocol or t.stem.startswith(protocol + "_")]
        if not mine:
            continue
        done |= {t.stem for t in mine}
        nav.append(f'<a href="#section-{protocol}">{protocol}</a>')
        parts = [f'<h2 id="section-{protocol}">{protocol}</h2>']
        head, rest = mine[0], mine[1:]
        parts.append(f'<div class="side"><div><h3>{html.escape(head.title)} <small>(measured)</small></h3>'
                     f"{_table_html(head, provenance)}</div>{_published_html(published, protocol)}</div>")
        parts += [f"<h3>{html.escape(t.title)}</h3>{_table_html(t, provenance)}" for t in rest]
        sections.append("\n".join(parts))
    others = [t for t in measured if t.stem not in done]
    if others:
        nav.append('<a href="#section-other">other tables</a>')
        sections.append('<h2 id="section-other">Diagnostics, ablations, controls, efficiency</h2>' + "\n".join(
            f"<h3>{html.escape(t.title)}</h3>{_table_html(t, provenance, diagnostics=diagnostics)}" for t in others))
    if published is not None:
        nav.append('<a href="#section-published">published</a>')
        sections.append('<h2 id="section-published"><span class="badge">PUBLISHED</span>All published numbers '
                        "(not measured here)</h2>" + '<div class="published">' + _table_html(published) + "</div>")
    if plots:
        nav.append('<a href="#section-plots">plots</a>')
        sections.append('<h2 id="section-plots">Plots</h2>' + "\n".join(
            f'<figure><img src="{html.escape(_rel(p, results_dir))}" alt="{html.escape(p.stem)}">'
            f"<figcaption>{html.escape(_rel(p, results_dir))}</figcaption></figure>" for p in sorted(plots)))
    nav.append('<a href="#section-runs">runs</a>')
    sections.append('<h2 id="section-runs">Runs: provenance of every row</h2><p class="notes">Each table row links '
                    "(column “runs”) to the run records it is computed from; each record holds the full config, "
                    "package versions, git revision, machine and per-video predictions.</p>"
                    + _run_rows(records, records_dir, results_dir))
    if diagnostics and any(diagnostics.values()):
        nav.append('<a href="#section-diagnostic-records">diagnostic records</a>')
        sections.append('<h2 id="section-diagnostic-records">Diagnostic records (python -m harness analyze)</h2>'
                        + _diagnostic_rows(diagnostics, records_dir, results_dir))
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        "<title>videoclip-harness results</title>", f"<style>{_CSS}</style>", f"<script>{_JS}</script>",
        "</head><body>", "<h1>videoclip-harness results</h1>",
        '<p class="notes">Generated by <code>python -m harness tables</code> from the run records; do not edit. '
        "Click a column header to sort its table. Numbers marked <span class=\"badge\">PUBLISHED</span> are "
        "copied from the papers and were not measured here.</p>",
        "<nav>" + "".join(nav) + "</nav>", *sections, "</body></html>", ""])


def write_index(tables: list[Table], plots: list[Path], records: list[dict], records_dir: Path,
                results_dir: Path, diagnostics: dict | None = None) -> Path:
    from ..paths import atomic_write_text

    path = Path(results_dir) / "index.html"
    atomic_write_text(path, render_index(tables, plots, records, Path(records_dir), Path(results_dir), diagnostics))
    return path

