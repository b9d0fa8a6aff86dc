"""The one place that builds open_clip models: architecture names, pretrained tags, local checkpoints,
QuickGELU, and the embedded toy CLIP.

Every method gets its CLIP from :func:`create_clip`, so a user's backbone choice (``--backbone``,
``--pretrained``) means the same thing for all of them.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

from .errors import HarnessError, closest

EMBEDDED_BACKBONE = "toy-vit"
EMBEDDED_TAG = "embedded"
RANDOM_TAGS = {None, "", "none", "random", "scratch"}
# Architectures users of this field run; any other open_clip ViT name works too.
COMMON_BACKBONES = ("toy-vit", "ViT-B-32", "ViT-B-16", "ViT-L-14", "ViT-L-14-336")


def _ensure_toy_registered() -> None:
    from . import toyclip

    toyclip.register_toy_config()


def list_backbones() -> list[str]:
    """open_clip ViT architectures the harness can build (names accepted by ``--backbone``)."""
    import open_clip

    _ensure_toy_registered()
    return [m for m in open_clip.list_models() if "ViT" in m or m == EMBEDDED_BACKBONE]


def resolve_quick_gelu(name: str, pretrained: str | None, quick_gelu) -> bool:
    """OpenAI's CLIP weights were trained with QuickGELU; open_clip's plain ViT configs use GELU.

    ``auto`` turns QuickGELU on for the ``openai`` tag, for ``*-quickgelu`` configs, and for local
    checkpoints whose file name contains ``openai`` (the convention of OpenAI's released ``.pt`` files).
    """
    if isinstance(quick_gelu, bool):
        return quick_gelu
    if quick_gelu not in (None, "auto"):
        raise HarnessError(f"backbone.quick_gelu must be true, false or 'auto', got {quick_gelu!r}")
    tag = str(pretrained or "").lower()
    if name.endswith("-quickgelu"):
        return False  # the config already declares it
    return tag == "openai" or (tag not in ("", EMBEDDED_TAG) and "openai" in Path(tag).name)


def create_clip(name: str = EMBEDDED_BACKBONE, pretrained: str | None = EMBEDDED_TAG, quick_gelu="auto",
                precision: str = "fp32"):
    """Build an open_clip CLIP model.

    ``pretrained`` is an open_clip tag (needs the hub, i.e. network), a local checkpoint path, ``embedded``
    (the project's own toy CLIP, built on first use) or ``none`` (random init at full size, for tests and
    profiling). Errors are one line that says what to do instead.
    """
    import open_clip

    _ensure_toy_registered()
    known = open_clip.list_models()
    if name not in known:
        raise HarnessError(f"unknown backbone {name!r}{closest(name, known)}; `python -m harness list` shows the "
                           f"open_clip architectures (e.g. {', '.join(COMMON_BACKBONES)})")
    tag = pretrained if pretrained not in RANDOM_TAGS else None
    if tag == EMBEDDED_TAG:
        if name != EMBEDDED_BACKBONE:
            raise HarnessError(f"pretrained 'embedded' exists only for the {EMBEDDED_BACKBONE} backbone; for {name} "
                               "give an open_clip tag, a local checkpoint path, or 'none' for random weights")
        from .toyclip import ensure_toy_clip

        tag = str(ensure_toy_clip())
    force_quick_gelu = resolve_quick_gelu(name, pretrained, quick_gelu)
    if tag is not None and not Path(tag).exists():
        looks_like_path = os.path.sep in tag or tag.endswith((".pt", ".pth", ".bin", ".safetensors"))
        if looks_like_path:
            raise HarnessError(f"checkpoint {tag!r} does not exist; give the path of a local open_clip/OpenAI "
                               "checkpoint file, or an open_clip tag")
        tags = open_clip.list_pretrained_tags_by_model(name)
        if tag not in tags:
            raise HarnessError(f"unknown pretrained tag {tag!r} for {name}{closest(tag, tags)}; known tags: "
                               f"{', '.join(tags) or 'none'}; or pass a local checkpoint path")
    quiet = logging.getLogger()
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # open_clip warns "initialized randomly" on every random-init build
    try:
        model = open_clip.create_model(name, pretrained=tag, precision=precision, device="cpu",
                                       force_quick_gelu=force_quick_gelu)
    except HarnessError:
        raise
    except Exception as error:  # network, corrupt file, wrong architecture for the checkpoint
        if tag is not None and not Path(tag).exists():
            raise HarnessError(f"could not fetch pretrained weights {name}/{tag} ({type(error).__name__}: "
                               f"{str(error).splitlines()[0][:160]}); this needs the model hub — download the "
                               "checkpoint on a machine with network and pass --pretrained /path/to/checkpoint") from None
        raise HarnessError(f"could not load checkpoint {tag!r} into {name} ({type(error).__name__}: "
                           f"{str(error).splitlines()[0][:160]}); check that the file is an open_clip/OpenAI "
                           "checkpoint of this architecture") from None
    finally:
        quiet.setLevel(level)
    model.harness_backbone = dict(name=name, pretrained=pretrained if pretrained not in RANDOM_TAGS else "none",
                                  quick_gelu=force_quick_gelu,
                                  weights_sha256=_sha256(tag) if tag is not None and Path(tag).is_file() else None)
    return model


def _sha256(path: str) -> str:
    """Checkpoint hash for the run record (what weights produced a number); cached per file version."""
    from .data.formats import sha256_file

    return sha256_file(path)


def get_tokenizer(name: str):
    import open_clip

    _ensure_toy_registered()
    return open_clip.get_tokenizer(name)


def preprocess_cfg(model) -> dict:
    """Input size and normalisation the backbone was trained with (open_clip's preprocess_cfg)."""
    cfg = dict(getattr(model.visual, "preprocess_cfg", {}) or {})
    size = cfg.get("size", model.visual.image_size)
    size = size[0] if isinstance(size, (tuple, list)) else size
    return dict(size=int(size), mean=tuple(cfg.get("mean", (0.48145466, 0.4578275, 0.40821073))),
                std=tuple(cfg.get("std", (0.26862954, 0.26130258, 0.27577711))))
