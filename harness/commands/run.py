"""``python -m harness run``: one method under one protocol, one record per protocol unit."""
from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "run", help="train and evaluate one method under one protocol",
        description="Train and evaluate one method under one protocol. Without --dataset the protocol runs on "
                    "the embedded benchmark (synthetic videos, the embedded toy CLIP), offline.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--method", required=True, help="method name (`python -m harness list`)")
    parser.add_argument("--protocol", required=True, help="base2novel | zero_shot | few_shot")
    parser.add_argument("--dataset", action="append", default=None, metavar="D",
                        help="dataset(s) (repeatable); default: the protocol's embedded datasets")
    parser.add_argument("--source", default=None, help="zero-shot training set (default: toy-source / kinetics400)")
    parser.add_argument("--backbone", default=None, help="open_clip architecture, e.g. ViT-B-16 (default toy-vit; embedded sizes "
                        "toy-vit-s, toy-vit-l)")
    parser.add_argument("--pretrained", default=None,
                        help="open_clip tag (needs network), local checkpoint path, 'embedded', or 'none'")
    parser.add_argument("--seed", type=int, action="append", default=None, help="protocol seed(s) to run")
    parser.add_argument("--shots", type=int, action="append", default=None, help="few-shot K value(s) to run")
    parser.add_argument("--work-dir", default=None,
                        help="checkpoints and logs, one folder per run: WORK_DIR/<method>/<run_id>/ (default "
                             "$HARNESS_WORK_DIR or work_dirs/)")
    parser.add_argument("--records", default=None,
                        help="run-record folder (default $HARNESS_RECORDS or work_dirs/records; the committed "
                             "reference records are in records/)")
    parser.add_argument("--cfg-options", nargs="+", default=None, metavar="KEY=VALUE",
                        help="override config keys, e.g. train.epochs=3 model.text.source=names")
    parser.add_argument("--checkpoint", default=None, help="evaluate this trained state dict instead of training")
    parser.add_argument("--data-root", default=None, help="video root of a real or custom dataset")
    parser.add_argument("--files-root", default=None, help="folder with the class-name and split files")
    parser.add_argument("--ann-file", default=None, help="custom dataset: mmaction2 video list")
    parser.add_argument("--classes", default=None, help="custom dataset: class-name file")
    parser.add_argument("--force", action="store_true", help="rerun units whose record exists")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted training from its checkpoint")
    parser.add_argument("--allow-missing", action="store_true", help="skip (and count) listed videos absent on disk")
    parser.add_argument("--launcher", default="none", choices=["none", "pytorch", "slurm"],
                        help="distributed launcher (use with torchrun / srun)")
    parser.add_argument("--no-tables", action="store_true",
                        help="do not regenerate the tables of your records (work_dirs/results) afterwards")
    parser.set_defaults(func=handle)


def handle(args) -> int:
    import os

    from ..paths import records_dir, reference_records_dir, results_dir
    from ..engine.runner import run
    from ..engine.summary import print_summary

    dataset_kwargs = {k: v for k, v in dict(video_root=args.data_root, files_root=args.files_root,
                                            ann_file=args.ann_file, classes=args.classes).items() if v}
    records = run(args.method, args.protocol, datasets=args.dataset, source=args.source, backbone=args.backbone,
                  pretrained=args.pretrained, seeds=args.seed, cfg_options=args.cfg_options, work_dir=args.work_dir,
                  force=args.force, checkpoint=args.checkpoint, resume=args.resume, launcher=args.launcher,
                  dataset_kwargs=dataset_kwargs, records_dir=args.records, shots=args.shots,
                  allow_missing=args.allow_missing)
    if int(os.environ.get("RANK", "0")) != 0:
        return 0
    print_summary(records, reference_dir=reference_records_dir())
    if not args.no_tables and not args.records:  # with --records the caller builds tables (`tables --records`)
        try:
            from ..reports.tables import build_tables
        except ImportError:
            return 0
        written = build_tables(records_dir(), results_dir())
        print(f"tables of your records ({records_dir()}) regenerated in {results_dir()} ({len(written)} files)")
    return 0
