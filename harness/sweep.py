"""``python -m harness sweep``: the cartesian product methods × protocols (× datasets × seeds), resumable.

Finished units are skipped (their records exist), so an interrupted sweep continues where it stopped; at
the end the tables in results/ are regenerated from all records.
"""
from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path


#: the methods and EZ-CLIP's ablations (methods/configs/ezclip-no-*.yaml), in table order
DEFAULT_METHODS = ("clip", "ezclip", "actionclip", "xclip", "vificlip", "ezclip-no-prompts", "ezclip-no-motion-loss",
                   "ezclip-no-adapters")


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("sweep", help="run methods × protocols (resumable), then regenerate tables",
                                   description="Run the cartesian product of methods and protocols; units whose "
                                               "record exists are skipped; tables are rebuilt at the end.")
    parser.add_argument("--methods", nargs="+", default=list(DEFAULT_METHODS),
                        help="default: the five methods and EZ-CLIP's three ablation variants")
    parser.add_argument("--protocols", nargs="+", default=["zero_shot", "base2novel", "few_shot"])
    parser.add_argument("--datasets", nargs="+", default=None, help="default: each protocol's embedded datasets")
    parser.add_argument("--seeds", nargs="+", type=int, default=None)
    parser.add_argument("--backbone", default=None)
    parser.add_argument("--pretrained", default=None)
    parser.add_argument("--cfg-options", nargs="+", default=None, metavar="KEY=VALUE")
    parser.add_argument("--records", default=None,
                        help="run-record folder (default $HARNESS_RECORDS or work_dirs/records; the committed "
                             "reference is made with --records records --results results)")
    parser.add_argument("--results", default=None, help="results folder (default $HARNESS_RESULTS or work_dirs/results)")
    parser.add_argument("--force", action="store_true", help="rerun units whose record exists")
    parser.set_defaults(func=handle)


def handle(args) -> int:
    from .methods_registry import method_entry
    from .paths import records_dir, reference_records_dir, results_dir
    from .protocols import load_protocol
    from .runner import run
    from .summary import print_summary

    for method in args.methods:  # every name is checked before the first unit generates or trains anything
        method_entry(method)
    for protocol in args.protocols:
        load_protocol(protocol)

    records_root = Path(args.records) if args.records else records_dir()
    records_root.mkdir(parents=True, exist_ok=True)
    (records_root / "SWEEP_COMMAND").write_text("python -m harness " + shlex.join(sys.argv[1:]) + "\n",
                                                encoding="utf-8")
    started = time.perf_counter()
    timings = []
    for protocol in args.protocols:
        for method in args.methods:
            began = time.perf_counter()
            records = run(method, protocol, datasets=args.datasets, backbone=args.backbone,
                          pretrained=args.pretrained, seeds=args.seeds, cfg_options=args.cfg_options,
                          force=args.force, records_dir=str(records_root))
            is_reference = records_root.resolve() == reference_records_dir().resolve()
            print_summary(records, reference_dir=None if is_reference else reference_records_dir())
            timings.append((method, protocol, time.perf_counter() - began))
    total = time.perf_counter() - started
    for method, protocol, seconds in timings:
        print(f"  {method:<11} {protocol:<11} {seconds:7.1f} s")
    print(f"sweep finished in {total / 60:.1f} min")
    from .tables import build_tables

    written = build_tables(records_root, Path(args.results) if args.results else results_dir())
    print(f"results regenerated ({len(written)} files)")
    return 0
