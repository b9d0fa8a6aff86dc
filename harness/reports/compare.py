"""Compare two run records on the evaluations they share: Δ accuracy with a paired CI and exact McNemar.

Why: the quickest honest answer to "is run A better than run B?" is a paired test on the same videos
(engineering.md §4: McNemar suits methods that are run once, e.g. zero-shot checkpoints). Evaluations whose
video lists differ are reported as not comparable rather than compared.
"""
from __future__ import annotations

import json
from pathlib import Path

from . import stats
from ..errors import HarnessError, closest
from .outcomes import outcome
from .render import fmt_p, pct
from .loading import load_records

RESAMPLES = stats.DEFAULT_RESAMPLES


def compare_records(record_a: dict, record_b: dict, n_resamples: int = RESAMPLES, seed: int = 0) -> dict:
    """Per evaluation name in both records with identical (video, label) lists: acc A, acc B, Δ, CI, McNemar p.

    Returns dict(run_a, run_b, method_a, method_b, evaluations=[...], not_comparable=[names]). Holm over the
    McNemar p of the compared evaluations is included (``p_mcnemar_holm``). Raises HarnessError when nothing
    is comparable.
    """
    evals_a = {ev.get("name"): ev for ev in record_a.get("evaluations") or []}
    evals_b = {ev.get("name"): ev for ev in record_b.get("evaluations") or []}
    run_a, run_b = record_a.get("run_id", "A"), record_b.get("run_id", "B")
    rows, not_comparable = [], []
    for name in sorted(set(evals_a) & set(evals_b), key=str):
        oa = outcome(evals_a[name], f"{run_a} evaluation {name!r}")
        ob = outcome(evals_b[name], f"{run_b} evaluation {name!r}")
        if oa.keys is None or oa.keys != ob.keys:
            not_comparable.append(name)
            continue
        boot = stats.paired_bootstrap_diff(oa.correct, ob.correct, n_resamples, 0.95, seed)
        mc = stats.mcnemar_exact(oa.correct, ob.correct)
        rows.append({"name": name, "n_videos": oa.n, "acc_a": oa.acc, "acc_b": ob.acc, "diff": boot["diff"],
                     "low": boot["low"], "high": boot["high"], "p_bootstrap": boot["p"], "n01": mc["n01"],
                     "n10": mc["n10"], "p_mcnemar": mc["p"]})
    if not rows:
        shared = sorted(map(str, set(evals_a) & set(evals_b)))
        why = (f"they share evaluation(s) {', '.join(shared)} but not with identical videos and labels"
               if shared else "they share no evaluation name")
        raise HarnessError(f"cannot compare {run_a} with {run_b}: {why}")
    for row, adj in zip(rows, stats.holm([r["p_mcnemar"] for r in rows])):
        row["p_mcnemar_holm"] = adj
    return {"run_a": run_a, "run_b": run_b, "method_a": record_a.get("method"), "method_b": record_b.get("method"),
            "n_resamples": n_resamples, "evaluations": rows, "not_comparable": not_comparable}


def report(result: dict) -> str:
    """Human-readable text for ``compare_records``'s result."""
    lines = [f"A: {result['run_a']} ({result['method_a']})", f"B: {result['run_b']} ({result['method_b']})", ""]
    header = f"{'evaluation':<24} {'videos':>6} {'acc A':>6} {'acc B':>6} {'Δ (pp) [95% CI]':>22} " \
             f"{'n01/n10':>9} {'McNemar p':>9} {'Holm p':>8}"
    lines += [header, "-" * len(header)]
    for r in result["evaluations"]:
        ci = f"{100 * r['diff']:+.1f} [{100 * r['low']:+.1f}, {100 * r['high']:+.1f}]"
        lines.append(f"{str(r['name']):<24} {r['n_videos']:>6} {pct(r['acc_a']):>6} {pct(r['acc_b']):>6} "
                     f"{ci:>22} {str(r['n01']) + '/' + str(r['n10']):>9} {fmt_p(r['p_mcnemar']):>9} "
                     f"{fmt_p(r['p_mcnemar_holm']):>8}")
    lines += ["", f"Δ = A − B; CI: paired bootstrap over videos ({result['n_resamples']:,} resamples, rng seed 0). "
              "McNemar: exact two-sided (n01 = A right, B wrong); Holm over the rows above."]
    if result["not_comparable"]:
        lines.append("Not compared (different videos or labels): " + ", ".join(map(str, result["not_comparable"])))
    return "\n".join(lines)


def resolve_record(run: str, records_dir: Path) -> dict:
    """A record from a file path, or by run_id under ``records_dir`` (``<run_id>.json`` or the run_id field)."""
    path = Path(run)
    if path.is_file():
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError:
            raise HarnessError(f"{path} is not a run record (not UTF-8 text); give a record JSON from records/ "
                               "or a run_id") from None
        except json.JSONDecodeError as exc:
            raise HarnessError(f"malformed JSON in {path} (line {exc.lineno}: {exc.msg})") from None
        if not isinstance(record, dict) or "evaluations" not in record:
            raise HarnessError(f"{path} is JSON but not a run record (no 'evaluations'); give a record JSON from "
                               "records/ or a run_id")
        return record
    if not Path(records_dir).is_dir():
        raise HarnessError(f"{run!r} is not a file and the records folder {records_dir} does not exist "
                           "(pass --records DIR or a record's path)")
    records, _ = load_records(Path(records_dir))
    matches = [r for r in records if r["run_id"] == run or Path(r["_path"]).stem == run]
    if not matches:
        raise HarnessError(f"no record with run_id {run!r} under {records_dir}"
                           f"{closest(run, [r['run_id'] for r in records])}")
    if len(matches) > 1:
        raise HarnessError(f"{len(matches)} records carry run_id {run!r}: "
                           + ", ".join(r["_path"] for r in matches) + "; pass a file path instead")
    return {k: v for k, v in matches[0].items() if k != "_path"}


def add_parser(subparsers):
    """``python -m harness compare RUN_A RUN_B [--records DIR] [--json]``."""
    parser = subparsers.add_parser(
        "compare", help="paired comparison of two runs on their shared evaluation videos",
        description="Compare two run records (run_id or path to a record file): per shared evaluation, "
                    "accuracy of each, Δ with a paired-bootstrap 95% CI and the exact McNemar p.")
    parser.add_argument("run_a", metavar="RUN_A", help="run_id or path to a record JSON")
    parser.add_argument("run_b", metavar="RUN_B", help="run_id or path to a record JSON")
    parser.add_argument("--records", type=Path, default=None,
                        help="records folder for run_id lookup (default: your records, $HARNESS_RECORDS or "
                             "work_dirs/records, then the committed reference records/)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(func=handler)
    return parser


def _resolve_anywhere(run: str) -> dict:
    """By run id in the user's records, then in the committed reference (a user compares their run with it)."""
    from ..paths import records_dir, reference_records_dir

    folders = [f for f in (records_dir(), reference_records_dir()) if Path(f).is_dir()]
    if Path(run).is_file() or not folders:
        return resolve_record(run, folders[0] if folders else records_dir())
    for folder in folders[:-1]:
        try:
            return resolve_record(run, folder)
        except HarnessError:
            pass
    return resolve_record(run, folders[-1])


def handler(args) -> int:
    if args.records:
        record_a, record_b = resolve_record(args.run_a, args.records), resolve_record(args.run_b, args.records)
    else:
        record_a, record_b = _resolve_anywhere(args.run_a), _resolve_anywhere(args.run_b)
    result = compare_records(record_a, record_b)
    print(json.dumps(result, indent=2, sort_keys=True) if args.json else report(result))
    return 0
