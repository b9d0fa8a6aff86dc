"""``python -m harness tune``: choose hyper-parameters on a slice held out of the training list, never on a test list.

Every grid point trains each unit of the protocol on the training list less ``--val-fraction`` of its videos
(per class, seeded: :func:`harness.data.splits.hold_out`) and evaluates only that held-out slice
(``runtime.validation_only``): the unit's test lists are not read. The table it prints (and writes as markdown)
gives train top-1, held-out top-1 and, for classes in reversal pairs, held-out direction-in-pair per grid point,
averaged over the units (seeds, K), and marks the best held-out top-1.
"""
from __future__ import annotations

import itertools
import shlex
import sys
from pathlib import Path


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "tune", help="grid search on a held-out slice of the training list (never a test list)",
        description="Train every grid point on the training list less a held-out slice and report top-1 on that "
                    "slice only; the unit's test lists are never evaluated.")
    parser.add_argument("--method", required=True)
    parser.add_argument("--protocol", required=True, help="base2novel | few_shot | zero_shot")
    parser.add_argument("--dataset", action="append", default=None, metavar="D")
    parser.add_argument("--shots", type=int, action="append", default=None, help="few-shot K value(s)")
    parser.add_argument("--seed", type=int, action="append", default=None, help="protocol seed(s)")
    parser.add_argument("--grid", nargs="+", required=True, metavar="KEY=V1,V2",
                        help="config keys and the values to try, e.g. train.optimizer.lr=1e-4,1e-3 train.epochs=6,20")
    parser.add_argument("--cfg-options", nargs="+", default=None, metavar="KEY=VALUE", help="fixed overrides")
    parser.add_argument("--val-fraction", type=float, default=0.25,
                        help="fraction of each class's training videos held out for the score")
    parser.add_argument("--out", default=None,
                        help="markdown table to write (default work_dirs/tuning/<method>-<protocol>.md)")
    parser.set_defaults(func=handle)


def parse_grid(items: list[str]) -> list[tuple[str, list[str]]]:
    from ..errors import HarnessError

    grid = []
    for item in items:
        key, sep, values = item.partition("=")
        choices = [v for v in values.split(",") if v != ""]
        if not sep or not key or not choices:
            raise HarnessError(f"--grid {item!r} is not KEY=V1,V2,...; e.g. --grid train.optimizer.lr=1e-4,1e-3")
        grid.append((key, choices))
    return grid


def summarise(records: list[dict]) -> dict:
    """Mean over units of train top-1, held-out top-1 and held-out direction-in-pair (None where absent)."""
    def mean(values):
        values = [v for v in values if v is not None]
        return sum(values) / len(values) if values else None

    validations = [(r.get("training") or {}).get("validation") or {} for r in records]
    return dict(units=len(records),
                train_top1=mean([(r.get("training") or {}).get("train_top1") for r in records]),
                val_top1=mean([(v.get("metrics") or {}).get("top1") for v in validations]),
                val_videos=sum((v.get("metrics") or {}).get("n_videos") or 0 for v in validations),
                val_direction=mean([(v.get("metrics") or {}).get("direction_accuracy") for v in validations]),
                iterations=mean([(r.get("training") or {}).get("iterations") for r in records]))


def render(method: str, protocol: str, keys: list[str], rows: list[tuple[tuple, dict]], command: str) -> str:
    from tabulate import tabulate

    def pct(value):
        return "—" if value is None else f"{100 * value:.1f}"

    best = max((s["val_top1"] for _, s in rows if s["val_top1"] is not None), default=None)
    table = [[*values, s["units"], f"{s['iterations']:.0f}" if s["iterations"] is not None else "—",
              pct(s["train_top1"]), pct(s["val_top1"]) + (" ◀" if s["val_top1"] == best else ""),
              pct(s["val_direction"]), s["val_videos"]] for values, s in rows]
    header = [*keys, "units", "iterations", "train top-1", "held-out top-1", "held-out direction", "held-out videos"]
    return (f"# tune {method} {protocol}\n\n`{command}`\n\nMeans over units; held-out = the slice of each training "
            "list kept out of training (no test list is read); ◀ = best held-out top-1.\n\n"
            + tabulate(table, header, tablefmt="github") + "\n")


def handle(args) -> int:
    from ..errors import HarnessError
    from ..paths import work_root
    from ..engine.runner import run

    if not 0 < args.val_fraction < 1:
        raise HarnessError(f"--val-fraction must be in (0, 1), got {args.val_fraction}")
    grid = parse_grid(args.grid)
    keys = [key for key, _ in grid]
    root = work_root() / "tuning"
    rows = []
    for values in itertools.product(*(choices for _, choices in grid)):
        options = list(args.cfg_options or []) + [f"{k}={v}" for k, v in zip(keys, values)] + [
            f"runtime.val_fraction={args.val_fraction}", "runtime.validation_only=true"]
        print(f"[tune] {' '.join(f'{k}={v}' for k, v in zip(keys, values))}", flush=True)
        records = run(args.method, args.protocol, datasets=args.dataset, seeds=args.seed, shots=args.shots,
                      cfg_options=options, records_dir=str(root / "records"), work_dir=str(root / "work"))
        rows.append((values, summarise(records)))
    command = "python -m harness " + shlex.join(sys.argv[1:])
    text = render(args.method, args.protocol, keys, rows, command)
    out = Path(args.out) if args.out else root / f"{args.method}-{args.protocol}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    print(text)
    print(f"written {out}")
    return 0
