"""Parameter counts and exact GMACs of a method (engineering.md §3).

GMACs are multiply-accumulates / 1e9: what the video-CLIP papers and READMEs call "GFLOPs". They are counted
with ``torch.utils.flop_counter.FlopCounterMode`` (which counts 2 FLOPs per MAC, hence the division by 2) with
the two pitfalls of torch 2.14 on CPU removed:

1. ``nn.MultiheadAttention``'s fast path (eval + ``no_grad``) dispatches to an op no counter knows, so a third
   of a ViT would count as 0: the fast path is switched off while counting;
2. on CPU, ``F.scaled_dot_product_attention`` dispatches to a flash kernel FlopCounterMode has no formula for:
   the MATH backend is forced, so it decomposes into counted matrix products.

Reference values: open_clip ViT-B-16 visual tower, one 224×224 frame = 17.563 GMACs; 8 frames = 140.5; its text
tower = 2.98 GMACs per 77-token prompt.

``gmacs_per_view`` is one view (clip × crop) of ``frames`` frames through the method's ``logits`` against a
one-class set whose text features are computed (and cached) before counting. It therefore holds the visual
tower for every frame, the method's temporal modules (its ``video_embeddings``) and any video-conditioned text
module that runs per video (X-CLIP's video-specific prompt generator, for that one class), and excludes the
text tower, which runs once per class set and is reported per prompt as ``text_gmacs``.
"""
from __future__ import annotations

import argparse
import copy
import json
import sys

import torch
import yaml
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from .methods_registry import method_class, method_config_path

UNITS = "params: count; gmacs_per_view, text_gmacs: GMACs = 1e9 multiply-accumulates (the papers' 'GFLOPs')"
PROFILE_CLASS = "profiled action"


def count_gmacs(fn_or_module, *inputs, **kwargs) -> float:
    """GMACs of one call ``fn_or_module(*inputs, **kwargs)``, run under ``no_grad`` in eval mode.

    ``fn_or_module`` is a module or a callable (a bound method of a module is put in eval mode for the count
    and restored afterwards).
    """
    module = fn_or_module if isinstance(fn_or_module, nn.Module) else getattr(fn_or_module, "__self__", None)
    module = module if isinstance(module, nn.Module) else None
    restore_training = module is not None and module.training
    if restore_training:
        module.eval()
    # A view of a parameter taken under no_grad still "requires grad" without a grad_fn, and FlopCounterMode's
    # module tracker fails on such a module input (e.g. ``dropout(prompt[layer])``): freeze while counting.
    trainable = [p for p in module.parameters() if p.requires_grad] if module is not None else []
    for parameter in trainable:
        parameter.requires_grad_(False)
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
            fn_or_module(*inputs, **kwargs)
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
        for parameter in trainable:
            parameter.requires_grad_(True)
        if restore_training:
            module.train(True)
    return counter.get_total_flops() / 2 / 1e9


def method_model_options(method_name: str) -> dict:
    """The ``model:`` section of the method's config (its constructor options, official values)."""
    with open(method_config_path(method_name), encoding="utf-8") as handle:
        return copy.deepcopy((yaml.safe_load(handle) or {}).get("model") or {})


def build_method(method_name: str, backbone: str = "ViT-B-16", pretrained: str | None = "none", frames: int = 8,
                 **model_options):
    """The method built as its config says, on ``backbone``/``pretrained``, for ``frames`` frames."""
    options = method_model_options(method_name)
    options.update(model_options)
    options.update(frames=int(frames), backbone=dict(name=backbone, pretrained=pretrained))
    return method_class(method_name)(**options)


def profile_method(method_name: str, backbone: str = "ViT-B-16", pretrained: str | None = "none",
                   frames: int = 8, method=None, **model_options) -> dict:
    """Parameter counts and GMACs of one method (see the module docstring for what each figure covers).

    ``method``: an already built instance to profile instead of building one (its class set is replaced).
    """
    if method is None:
        method = build_method(method_name, backbone, pretrained, frames, **model_options)
    method.eval()
    method.set_class_names([PROFILE_CLASS], descriptions={PROFILE_CLASS: PROFILE_CLASS})
    counts = method.parameter_counts()
    size = int(method.input_size)
    videos = torch.randn(1, int(method.frames), 3, size, size)
    tokens = method.tokenize(method.prompts(method.text_cfg["templates"][0])[:1])
    text_gmacs = count_gmacs(method.encode_text, tokens)
    with torch.no_grad():
        method.all_template_features()  # cached in eval mode: the count below excludes the text tower
    gmacs_per_view = count_gmacs(method.logits, videos)
    return dict(method=method_name, backbone=method.backbone_name, frames=int(method.frames),
                total_params=counts["total_params"], trainable_params=counts["trainable_params"],
                gmacs_per_view=round(gmacs_per_view, 4), text_gmacs=round(text_gmacs, 4), input_size=size,
                units=UNITS)


def format_profile(result: dict) -> str:
    rows = [("method", result["method"]), ("backbone", result["backbone"]),
            ("frames × input size", f"{result['frames']} × {result['input_size']}²"),
            ("total parameters", f"{result['total_params']:,}"),
            ("trainable parameters", f"{result['trainable_params']:,} ({result['trainable_params'] / 1e6:.2f} M)"),
            ("GMACs per view (visual path)", f"{result['gmacs_per_view']:.3f}"),
            ("GMACs per text prompt", f"{result['text_gmacs']:.3f}")]
    width = max(len(name) for name, _ in rows)
    lines = [f"{name:<{width}}  {value}" for name, value in rows]
    lines.append(f"units: {result['units']}")
    return "\n".join(lines)


def run_profile(args: argparse.Namespace) -> int:
    result = profile_method(args.method, backbone=args.backbone, pretrained=args.pretrained, frames=args.frames)
    print(json.dumps(result) if args.json else format_profile(result))
    return 0


def add_parser(subparsers) -> argparse.ArgumentParser:
    """``python -m harness profile --method M [--backbone NAME] [--pretrained TAG] [--frames T] [--json]``."""
    parser = subparsers.add_parser(
        "profile", help="parameter counts and exact GMACs of a method",
        description="Count a method's parameters and its exact GMACs (multiply-accumulates, the papers' "
                    "'GFLOPs') per view and per text prompt. Random weights by default: counts do not depend "
                    "on them, and nothing is downloaded.")
    parser.add_argument("--method", required=True, help="method name (python -m harness list)")
    parser.add_argument("--backbone", default="ViT-B-16", help="open_clip architecture (default ViT-B-16)")
    parser.add_argument("--pretrained", default="none",
                        help="weights: 'none' (random, default), an open_clip tag or a checkpoint path")
    from ..cli import positive_int

    parser.add_argument("--frames", type=positive_int, default=8, help="frames per view (default 8)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.set_defaults(func=run_profile, handler=run_profile)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.models.profile")
    subparsers = parser.add_subparsers(dest="command", required=True)
    add_parser(subparsers)
    args = parser.parse_args(["profile", *(sys.argv[1:] if argv is None else argv)])
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
