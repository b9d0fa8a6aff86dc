"""``python -m harness reproduce``: a released checkpoint, evaluated under its authors' protocol and views, beside
the number they published (harness/models/checkpoints/releases.py, harness/reports/published.py)."""
from __future__ import annotations

import argparse

from ..cli import positive_int


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "reproduce", help="evaluate a released checkpoint as its authors did; measured vs published",
        description="Evaluate an official checkpoint (a local file; nothing downloads) under the protocol, frames, "
                    "views (clips × crops) and text its authors used, and print measured vs published "
                    "(harness/reports/published.py) with the difference and whether the published value lies in the "
                    "measured 95 %% CI. The records are marked as reproductions. README: released checkpoints.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--method", required=True, help="method the checkpoint belongs to")
    parser.add_argument("--dataset", required=True, help="dataset it is evaluated on, e.g. hmdb51, ucf101, kinetics600")
    parser.add_argument("--checkpoint", required=True, action="append", metavar="SRC",
                        help="the released checkpoint file (base2novel: repeat for the seed 1, 2, 3 checkpoints)")
    parser.add_argument("--protocol", default=None, help="zero_shot | base2novel | few_shot, when the method has "
                                                         "releases for the dataset under several")
    parser.add_argument("--shots", type=positive_int, default=None, help="few-shot K of the checkpoint")
    parser.add_argument("--seed", type=positive_int, default=None, help="base-to-novel seed of the checkpoint")
    parser.add_argument("--backbone", default=None, help="default: the release's (e.g. ViT-B-16)")
    parser.add_argument("--pretrained", default=None,
                        help="backbone weights, only for tensors the official file lacks (ViFi-CLIP: the token table)")
    parser.add_argument("--data-root", default=None, help="video root of the dataset")
    parser.add_argument("--files-root", default=None, help="folder with the class-name and split files (the "
                                                           "official repository checkout the release used)")
    parser.add_argument("--cfg-options", nargs="+", default=None, metavar="KEY=VALUE",
                        help="override the release's setting (then it is no longer the authors' setting)")
    parser.add_argument("--allow-missing", action="store_true", help="skip (and count) listed videos absent on disk")
    parser.add_argument("--records", default=None, help="run-record folder (default $HARNESS_RECORDS)")
    parser.add_argument("--work-dir", default=None, help="logs, one folder per run (default $HARNESS_WORK_DIR)")
    parser.add_argument("--force", action="store_true", help="re-evaluate even if the record exists")
    parser.set_defaults(func=handle)


def handle(args) -> int:
    import os

    from ..engine.reproduce import reproduce

    _, _, lines = reproduce(args.method, args.dataset, args.checkpoint, protocol=args.protocol, shots=args.shots,
                            seed=args.seed, backbone=args.backbone, pretrained=args.pretrained,
                            cfg_options=args.cfg_options, data_root=args.data_root, files_root=args.files_root,
                            allow_missing=args.allow_missing, records_dir=args.records, work_dir=args.work_dir,
                            force=args.force)
    if int(os.environ.get("RANK", "0")) == 0:
        print("\n".join(lines))
    return 0
