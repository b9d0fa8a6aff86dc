"""Run records → results/ (Markdown, CSV, LaTeX, PNG): the only way results/ is written.

Why it is built like this:
- Tables come from the records only and are byte-for-byte reproducible: rows are sorted, floats have fixed
  formats, the bootstrap rng is seeded per cell, and no timestamps are written (dates live in the records).
- One record per (method, protocol, dataset, unit); if a unit was re-run, the newest ``created_utc`` wins and a
  footnote names the superseded run (harness.reports.loading).
- Every measured cell carries a 95 % bootstrap CI; comparisons with the reference method use paired tests on
  identical videos, Holm-corrected over the table (../shared/docs/engineering.md §4; harness.reports.comparisons).
  Each protocol has its module (base2novel, zero_shot, few_shot). Published numbers go to their own table only
  (harness.reports.published).
- EZ-CLIP's ablation variants (``ezclip-no-*``) are one Holm family of their own in ``ablations``
  (harness.reports.ablations), not rows of the methods' tables, where they would dilute the methods' marks.
- Plots must not exaggerate (harness.reports.plots): axes from 0 (or a labelled log scale), a CI on every point,
  legends instead of text at the points. results/README.md states each compared evaluation's n and the difference
  the exact McNemar test can detect there (harness.reports.power), so "no mark" is not read as "no difference".
"""
from __future__ import annotations

import logging
from pathlib import Path

from ..errors import HarnessError, closest
from .ablations import FULL as ABLATION_FULL, build_ablations, is_variant
from .base2novel import build_base2novel
from .controls import build_controls
from .diagnostics_report import build_diagnostics
from .efficiency import build_efficiency
from .few_shot import build_few_shot
from .index_page import write_index
from .loading import PROTOCOLS, backbone_of, deduplicate, load_records, on_main_backbone, protocol_name
from .outcomes import group_by
from .plots import PLOT_SUFFIXES, plot_points, write_plots
from .power import power_lines, sample_sizes
from .training_fit import build_training_fit
from .published import build_published
from .render import Table
from .zero_shot import build_zero_shot

log = logging.getLogger(__name__)

_GENERATED_STEMS = {f"{p}{s}" for p in PROTOCOLS for s in ("", "_seeds", "_splits", "_tests", "_provenance")} | {
    "efficiency", "published", "ablations", "controls", "training_fit", "README", "temporal", "motion_terms", "backbones"}
DEFAULT_REFERENCE = "ezclip"


_DESCRIPTIONS = {
    "base2novel": "base-to-novel B / N / HM per method × dataset, seed-averaged, 95% CIs, marks vs the reference",
    "base2novel_seeds": "base-to-novel per seed", "base2novel_tests": "base-to-novel comparisons (Δ, p, Holm)",
    "base2novel_provenance": "base-to-novel provenance (frames, views, input, text, seeds, version, git)",
    "zero_shot": "zero-shot mean ± std over splits per target, marks vs the reference",
    "zero_shot_splits": "zero-shot per split with 95% CIs", "zero_shot_tests": "zero-shot comparisons",
    "zero_shot_provenance": "zero-shot provenance",
    "few_shot": "few-shot top-1 per K, 95% CIs, marks vs the reference", "few_shot_seeds": "few-shot per K and seed",
    "few_shot_tests": "few-shot comparisons", "few_shot_provenance": "few-shot provenance",
    "efficiency": "parameters, GMACs, throughput, step time, memory (measured)",
    "ablations": "EZ-CLIP vs each ablation variant (ezclip-no-*): top-1 and direction with 95% CIs, Δ, Holm marks, "
                 "and what the marks show",
    "controls": "positive / negative control: every method vs frozen clip on time-reversal pairs (train top-1, "
                "test top-1 and direction with 95% CIs, exact McNemar, Holm)",
    "training_fit": "training fit: train top-1 beside test top-1 per method × dataset (base-to-novel base, few-shot "
                    "largest K), Δ vs frozen clip with exact McNemar and Holm",
    "published": "published numbers from methods.md §4 (NOT measured here)",
    "temporal": "temporal reliance: top-1 with frames in order / reversed / shuffled / one frame repeated, Δ vs in "
                "order with paired CIs, exact McNemar, Holm (records/diagnostics/temporal)",
    "motion_terms": "EZ-CLIP's motion-loss terms C and V on every method's frame embeddings, 95% CIs "
                    "(records/diagnostics/motion)",
    "backbones": "base-to-novel B / N / HM per backbone, 95% CIs"}
_PLOT_DESCRIPTIONS = {
    "temporal": "Δ top-1 vs frames in order per method (reversed, shuffled, one frame repeated), 95% paired CIs",
    "motion_terms": "motion-loss terms C and V per method (raw and L2-normalised), 95% CI error bars, axes from 0",
    "backbones": "novel top-1 and HM per backbone, one marker per method, 95% CI error bars, axes from 0",
    "prompt_attention": "EZ-CLIP temporal-prompt attention heat maps per class and layer (frames in order)"}


def readme(written: list[Path], results_dir: Path, records_dir: Path, counts: dict,
           power_rows: list[dict] | None = None) -> str:
    lines = ["# Results", "",
             "Everything in this folder is generated by `python -m harness tables` from the run records "
             "(`records/`, one JSON file per protocol unit) and is overwritten on every run: do not edit it by "
             "hand. Each table exists as Markdown (`.md`), CSV (`.csv`, tidy, numbers in %) and LaTeX (`.tex`).",
             "",
             f"Read {counts['records']} run record(s); {counts['superseded']} superseded by a newer run of the same "
             f"unit (see the tables' notes); {counts['skipped']} JSON file(s) that are not records skipped; "
             f"{counts['unknown']} record(s) of unknown protocols left out of the protocol tables.", "",
             "| file | content |", "|---|---|"]
    entries = {}
    for path in written:
        rel = path.relative_to(results_dir).as_posix()
        special = next((d for k, d in _PLOT_DESCRIPTIONS.items() if path.stem.startswith(k)), None)
        if rel.endswith(".png") and special:
            entries[f"`{rel}`"] = special
        elif rel.endswith(".html"):
            entries[f"`{rel}`"] = ("one static page (opens from disk, no network): every table (click a header to "
                                   "sort), every plot, each row's runs with config, versions, git revision and a "
                                   "link to the record, published numbers beside the measured ones")
        elif rel.endswith(".png"):
            entries[f"`{rel}`"] = ("accuracy vs compute / trainable parameters, 95% CI error bars, axes from 0 "
                                   "(parameters: symmetric log scale)")
        else:
            stem = rel.rsplit(".", 1)[0]
            entries[f"`{stem}.md` / `.csv` / `.tex`"] = _DESCRIPTIONS.get(stem, "")
    lines += [f"| {name} | {entries[name]} |" for name in sorted(entries)]
    lines.append("")
    lines += power_lines(power_rows or [])
    sweep = records_dir / "SWEEP_COMMAND"
    if sweep.is_file():
        lines += ["The records were produced by this sweep (verbatim from `records/SWEEP_COMMAND`):", "", "```",
                  sweep.read_text(encoding="utf-8").rstrip("\n"), "```"]
    else:
        lines.append("No `records/SWEEP_COMMAND` file was found, so the command that produced the records is not "
                     "recorded here (each record holds its own config).")
    return "\n".join(lines) + "\n"


def _remove_stale(results_dir: Path, keep: set[Path]) -> None:
    """Delete files an earlier run generated that this run no longer produces (only our own file names)."""
    ours = {results_dir / f"{stem}.{ext}" for stem in _GENERATED_STEMS for ext in ("md", "csv", "tex")}
    ours |= {results_dir / "plots" / f"{p}_{s}.png" for p in PROTOCOLS for s in PLOT_SUFFIXES}
    ours |= {results_dir / "plots" / f"{stem}.png" for stem in ("motion_terms", "backbones", "temporal")}
    ours |= set((results_dir / "plots").glob("prompt_attention_*.png")) | {results_dir / "index.html"}
    for path in sorted(ours - keep):
        if path.is_file():
            path.unlink()


def check_reference(reference: str | None, methods: set[str]) -> str:
    """The reference method to mark against. One the user named must have records (else a HarnessError listing
    the methods that do); the default only warns, since a first run of another method has no ezclip records."""
    if reference is None:
        if methods and DEFAULT_REFERENCE not in methods:
            log.warning("reference method %r has no records; tables carry no significance marks (pass "
                        "--reference with one of: %s)", DEFAULT_REFERENCE, ", ".join(sorted(methods)))
        return DEFAULT_REFERENCE
    if reference not in methods:
        present = ", ".join(sorted(methods)) or "none"
        raise HarnessError(f"reference method {reference!r} has no records{closest(reference, methods)}; methods "
                           f"in the records: {present}; pass one of them with --reference")
    return reference


def build_tables(records_dir: Path, results_dir: Path, reference: str | None = None) -> list[Path]:
    """Regenerate ``results_dir`` from the records under ``records_dir``; return the written paths (sorted).

    ``reference``: the method the marks compare against; None = ``DEFAULT_REFERENCE`` (see ``check_reference``).
    """
    records_dir, results_dir = Path(records_dir), Path(results_dir)
    raw, skipped = load_records(records_dir)
    main, _ = on_main_backbone(raw)  # other backbones' runs are the backbone axis (backbones.md)
    kept, superseded = deduplicate(main)
    reference = check_reference(reference, {r["method"] for r in kept})
    by_protocol_all = group_by(kept, protocol_name)
    unknown = sorted(p for p in by_protocol_all if p not in PROTOCOLS)
    if unknown:
        log.warning("records of unknown protocol(s) %s left out of the protocol tables", ", ".join(unknown))
    # EZ-CLIP's ablation variants go to the ablation table (their own Holm family), not the methods' tables,
    # unless the user compares against one of them
    by_protocol = {p: [r for r in recs if not is_variant(r["method"]) or r["method"] == reference]
                   for p, recs in by_protocol_all.items()}

    tables: list[Table] = []
    plots: list[tuple[str, str, list[dict]]] = []
    builders = {"base2novel": (build_base2novel, "HM"), "zero_shot": (build_zero_shot, "mean over targets' splits"),
                "few_shot": (build_few_shot, "mean over K")}

    def superseded_notes(keep) -> list[str]:
        return [f"Superseded by a newer run of the same unit (newest created_utc kept): {old['run_id']} "
                f"({old.get('created_utc')}) → {new['run_id']} ({new.get('created_utc')})."
                for old, new in superseded if keep(new)]

    for protocol in PROTOCOLS:
        recs = by_protocol.get(protocol)
        if not recs:
            continue
        left_out = sorted({r["method"] for r in by_protocol_all[protocol]} - {r["method"] for r in recs})
        notes = superseded_notes(lambda new: protocol_name(new) == protocol and new["method"] not in left_out)
        if left_out:
            notes.append(f"EZ-CLIP's ablation variants ({', '.join(left_out)}) are compared with full ezclip in "
                         "the ablations table, not here.")
        built, points = builders[protocol][0](recs, reference, notes)
        tables += built
        plots.append((protocol, builders[protocol][1], plot_points(points, recs)))
    in_ablations = lambda new: new["method"] == ABLATION_FULL or is_variant(new["method"])  # noqa: E731
    ablations = build_ablations({p: by_protocol_all[p] for p in PROTOCOLS if p in by_protocol_all},
                                superseded_notes(in_ablations))
    if ablations is not None:
        tables.append(ablations)
    controls = build_controls(by_protocol_all.get("few_shot", []), is_variant)
    if controls is not None:
        tables.append(controls)
    fit = build_training_fit(by_protocol_all)
    if fit is not None:
        tables.append(fit)
    if kept:
        tables.append(build_efficiency(kept))
    diagnostic_tables, diagnostic_plots, diagnostic_records = build_diagnostics(records_dir, raw)
    tables += diagnostic_tables
    tables.append(build_published())

    results_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for table in tables:
        for ext, text in (("md", table.markdown()), ("csv", table.csv()), ("tex", table.latex())):
            path = results_dir / f"{table.stem}.{ext}"
            _write(path, text)
            written.append(path)
    for protocol, label, points in plots:
        written += write_plots(protocol, label, points, results_dir)
    for write in diagnostic_plots:
        written += write(results_dir)
    written.append(write_index(tables, [p for p in written if p.suffix == ".png"], kept, records_dir, results_dir,
                               diagnostic_records))
    counts = {"records": len(raw), "superseded": len(superseded), "skipped": len(skipped),
              "unknown": sum(len(by_protocol[p]) for p in unknown)}
    path = results_dir / "README.md"
    _write(path, readme(written, results_dir, records_dir, counts,
                        sample_sizes({p: by_protocol[p] for p in PROTOCOLS if p in by_protocol})))
    written.append(path)
    _remove_stale(results_dir, set(written))
    return sorted(written)


def _write(path: Path, text: str) -> None:
    """Write atomically so a crash never leaves a half table behind."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def add_parser(subparsers):
    """``python -m harness tables [--records DIR] [--results DIR] [--reference METHOD]``."""
    parser = subparsers.add_parser(
        "tables", help="regenerate results/ (Markdown, CSV, LaTeX, PNG) from the run records",
        description="Rebuild every table and plot in the results folder from the run records only. "
                    "The output is identical on repeated runs.")
    parser.add_argument("--records", type=Path, default=None,
                        help="records folder (default: $HARNESS_RECORDS or <repo>/records)")
    parser.add_argument("--results", type=Path, default=None,
                        help="output folder (default: $HARNESS_RESULTS or <repo>/results)")
    parser.add_argument("--reference", default=None,
                        help=f"method the significance marks compare against (default: {DEFAULT_REFERENCE}); "
                             "a method without records is an error")
    parser.set_defaults(func=handler)
    return parser


def handler(args) -> int:
    from ..paths import records_dir, results_dir

    out = Path(args.results) if args.results else results_dir()
    paths = build_tables(Path(args.records) if args.records else records_dir(), out, args.reference)
    print(f"wrote {len(paths)} files to {out}")
    return 0
