"""``python -m harness convert``: a method's checkpoint in any format it comes in → the harness's (or back).

Reads SRC as its authors' code saved it (or a harness checkpoint), maps every tensor onto the method's
parameters as configured (``--backbone``, ``--cfg-options model.*``), and writes DST; prints one line saying
what it found, what it mapped and what it deliberately left out, and why.
"""
from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "convert", help="convert an official checkpoint of a method to the harness's format (or back)",
        description="Read SRC (an official checkpoint of --method as its authors' code saves it, or a harness "
                    "checkpoint), map every tensor onto the method's parameters and write DST: an mmengine "
                    "checkpoint {'state_dict', 'meta'} that `run --checkpoint DST` evaluates, or with --to "
                    "official the method's official format. Nothing downloads: SRC is a local file.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--method", required=True, help="method the checkpoint belongs to (`python -m harness list`)")
    parser.add_argument("src", metavar="SRC", help="checkpoint file to read")
    parser.add_argument("dst", metavar="DST", help="file to write")
    parser.add_argument("--to", choices=("harness", "official"), default="harness",
                        help="harness: a checkpoint `run --checkpoint` loads; official: the method's official format")
    parser.add_argument("--backbone", default=None,
                        help="open_clip architecture the checkpoint was trained on, e.g. ViT-B-16 (default toy-vit)")
    parser.add_argument("--pretrained", default=None,
                        help="backbone weights for tensors an official format does not hold (ViFi-CLIP's token "
                             "table): a local checkpoint path, 'embedded' or 'none'")
    parser.add_argument("--cfg-options", nargs="+", default=None, metavar="KEY=VALUE",
                        help="model options it was trained with, e.g. model.frames=8 model.fusion=meanP")
    parser.add_argument("--bare", action="store_true", help="write DST as a plain state dict (no 'meta')")
    parser.add_argument("--force", action="store_true", help="overwrite DST if it exists")
    parser.set_defaults(func=handle)


def _check_destination(src: str, dst: str, force: bool) -> None:
    from pathlib import Path

    from ..models.checkpoints import refuse_remote
    from ..errors import HarnessError

    refuse_remote(dst, "DST")
    path = Path(dst)
    if not path.parent.is_dir():
        raise HarnessError(f"DST {dst}: folder {path.parent} does not exist; create it or choose another path")
    if path.is_dir():
        raise HarnessError(f"DST {dst} is a folder; give a file name")
    if path.exists() and Path(src).exists() and path.resolve() == Path(src).resolve():
        raise HarnessError(f"DST {dst} is SRC itself; write the converted checkpoint to another file")
    if path.exists() and not force:
        raise HarnessError(f"DST {dst} exists; pass --force to overwrite it or choose another path")


def handle(args) -> int:
    from ..models.checkpoints import (export_official, needs_backbone_weights, read_checkpoint,
                                      to_harness_state, write_harness, write_official)
    from ..engine.config import build_config
    from ..models.backbones import is_embedded_backbone
    from ..models.methods_registry import method_class
    from ..engine.preflight import probe_model

    method_class(args.method)  # an unknown method is one line before any file is read
    _check_destination(args.src, args.dst, args.force)
    ckpt = read_checkpoint(args.src)
    config = build_config(args.method, is_embedded_backbone(args.backbone), args.cfg_options, args.backbone,
                          args.pretrained)
    model = probe_model(args.method, config)
    state, report, dtypes = to_harness_state(ckpt, model, args.method)
    needs_backbone_weights(model, report, config["backbone"]["pretrained"])
    target = f"{args.method} ({config['backbone']['name']}, {model.frames} frames)"
    if args.to == "official":
        container, skipped, half = export_official(state, model, dtypes)
        write_official(args.dst, container)
        layout = model.official_layout()
        count = sum(len(part) for part in container.values()) if layout.section_keys() else len(container)
        notes = f"; {half} fp16 as the official code saves them" if half else ""
        notes += f"; not written: {', '.join(skipped)}" if skipped else ""
        print(f"{report.line(target)}; wrote {args.dst} as {layout.name} ({count} tensors{notes})")
        return 0
    meta = dict(converted_by="python -m harness convert", method=args.method, backbone=config["backbone"]["name"],
                frames=model.frames, model_options=config["model"], converted_from=ckpt.official_origin,
                official_dtypes=dtypes)
    write_harness(args.dst, state, meta, bare=args.bare)
    print(f"{report.line(target)}; wrote {args.dst} ({'state dict' if args.bare else 'mmengine checkpoint'})")
    return 0
