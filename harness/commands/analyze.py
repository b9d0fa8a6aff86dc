"""``python -m harness analyze temporal|motion|attention|backbones|all``: temporal diagnostics of finished runs.

``temporal``, ``motion`` and ``attention`` read the run records of one (method, protocol, dataset), load each
run's trained weights (its ``final_state_dict.pth``, ``--checkpoint``, or a fresh training with
``--train-missing``) and write diagnostic records under ``<records>/diagnostics/`` (:mod:`harness.diagnostics`).
``backbones`` runs base-to-novel once per backbone (ordinary run records). ``all`` is the one command that
regenerates every committed diagnostic record after a sweep. Tables and plots come from ``tables``, as always.
"""
from __future__ import annotations

import time
from pathlib import Path

KIND_COMMANDS = ("temporal", "motion", "attention")
#: what ``analyze all`` covers: every method with records, on these units (one seed: one training per method
#: at most when a checkpoint is missing)
ALL_PROTOCOL, ALL_DATASETS, ALL_SEEDS = "base2novel", ("toy-temporal",), (1,)


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "analyze", help="temporal diagnostics of finished runs: frame-order views, motion-loss terms, prompt "
                        "attention, backbone axis",
        description="Analyse finished runs from their records and checkpoints; results go to diagnostic records "
                    "(<records>/diagnostics/), their tables and plots are made by `tables`.")
    commands = parser.add_subparsers(dest="analysis", metavar="ANALYSIS")
    helps = dict(temporal="evaluate with the frames in order, reversed, shuffled and one frame repeated",
                 motion="central-difference and variance terms of EZ-CLIP's motion loss on the frame embeddings",
                 attention="EZ-CLIP: per-layer attention to and of the temporal prompt token, per class")
    for name in KIND_COMMANDS:
        sub = commands.add_parser(name, help=helps[name], description=helps[name])
        sub.add_argument("--method", required=True)
        sub.add_argument("--protocol", required=True, help="base2novel | few_shot | zero_shot")
        sub.add_argument("--dataset", required=True, help="the dataset the runs are filed under (records/<P>/<M>/D)")
        _common(sub)
        sub.set_defaults(func=handle_kind, kinds=[name])
    every = commands.add_parser("all", help="every diagnostic for every method with records (the regeneration "
                                            "command after a sweep)")
    every.add_argument("--methods", nargs="+", default=None, help="default: every method with records")
    every.add_argument("--protocol", default=ALL_PROTOCOL)
    every.add_argument("--datasets", nargs="+", default=list(ALL_DATASETS))
    _common(every, seeds=list(ALL_SEEDS))
    every.set_defaults(func=handle_all)
    backbones = commands.add_parser("backbones", help="base-to-novel once per backbone (novel accuracy and HM per "
                                                      "backbone are tabled by `tables`)")
    backbones.add_argument("--method", required=True)
    backbones.add_argument("--backbones", nargs="+", required=True, metavar="NAME",
                           help="e.g. toy-vit-s toy-vit toy-vit-l (embedded), or on the real path "
                           "ViT-B-32 ViT-B-16 ViT-L-14")
    backbones.add_argument("--pretrained", default=None, help="open_clip tag or checkpoint (all backbones)")
    backbones.add_argument("--dataset", action="append", default=None, metavar="D")
    backbones.add_argument("--seed", type=int, action="append", default=None)
    backbones.add_argument("--records", type=Path, default=None, help="run records folder (default work_dirs/records)")
    backbones.add_argument("--work-dir", default=None, help="work folder root (default work_dirs)")
    backbones.add_argument("--cfg-options", nargs="+", default=None, metavar="KEY=VALUE", help="config overrides")
    backbones.set_defaults(func=handle_backbones)
    parser.set_defaults(func=_no_analysis)


def _no_analysis(args) -> int:
    from ..errors import HarnessError

    raise HarnessError("analyze needs an analysis: temporal, motion, attention, all or backbones; see "
                       "`python -m harness analyze --help`")


def _common(sub, seeds=None) -> None:
    sub.add_argument("--seed", dest="seeds", type=int, action="append", default=seeds,
                     help="only these protocol seeds (default: all records" + (f", here {seeds})" if seeds else ")"))
    sub.add_argument("--records", type=Path, default=None,
                     help="records folder read and written (default work_dirs/records; committed: records)")
    sub.add_argument("--checkpoint", default=None, help="weights to analyse instead of the runs' own")
    sub.add_argument("--checkpoints", type=Path, action="append", default=[], metavar="DIR",
                     help="also look for <DIR>/<method>/<run_id>/final_state_dict.pth here")
    sub.add_argument("--train-missing", action="store_true",
                     help="train a run again (same run id) when its weights are not found")
    sub.add_argument("--force", action="store_true", help="redo analyses whose diagnostic record exists")


def _records_dir(args) -> Path:
    from ..paths import records_dir

    return Path(args.records) if args.records else records_dir()


def handle_kind(args) -> int:
    from ..diagnostics.analyses import analyse_run
    from ..diagnostics.runs import source_records
    from ..paths import work_root

    records = _records_dir(args)
    started = time.perf_counter()
    written = []
    for record in source_records(records, args.method, args.protocol, args.dataset, args.seeds):
        written += analyse_run(record, args.kinds, records, work_root(), args.checkpoint, args.checkpoints,
                               args.train_missing, args.force)
    print(f"{len(written)} diagnostic record(s) under {records / 'diagnostics'} ({time.perf_counter() - started:.1f} s);"
          f" `python -m harness tables --records {records}` tables them")
    return 0


def handle_all(args) -> int:
    from ..diagnostics.analyses import analyse_run
    from ..diagnostics.runs import source_records
    from ..errors import HarnessError
    from ..paths import work_root
    from ..reports.loading import load_records, protocol_name

    records = _records_dir(args)
    started = time.perf_counter()
    have = sorted({r["method"] for r in load_records(records)[0] if protocol_name(r) == args.protocol
                   and r["dataset"] in args.datasets and not r["method"].endswith("(released)")})
    methods = args.methods or have
    if not methods:
        raise HarnessError(f"no {args.protocol} records on {', '.join(args.datasets)} under {records}; run the sweep "
                           "first or pass --records DIR")
    written = []
    for method in methods:
        for dataset in args.datasets:
            for record in source_records(records, method, args.protocol, dataset, args.seeds):
                written += analyse_run(record, list(KIND_COMMANDS), records, work_root(), args.checkpoint,
                                       args.checkpoints, args.train_missing, args.force)
    print(f"{len(written)} diagnostic record(s) for {len(methods)} method(s) under {records / 'diagnostics'} "
          f"({time.perf_counter() - started:.1f} s); `python -m harness tables --records {records}` tables them")
    return 0


def handle_backbones(args) -> int:
    from ..engine.runner import run

    started = time.perf_counter()
    for backbone in args.backbones:
        run(args.method, "base2novel", datasets=args.dataset, backbone=backbone, pretrained=args.pretrained,
            seeds=args.seed, records_dir=str(args.records) if args.records else None, cfg_options=args.cfg_options,
            work_dir=args.work_dir)
    print(f"base2novel for {len(args.backbones)} backbone(s) in {time.perf_counter() - started:.1f} s; "
          "`python -m harness tables` writes backbones.md and plots/backbones.png")
    return 0
