"""The one place that builds open_clip models: architecture names, pretrained tags, local checkpoints,
QuickGELU, and the embedded toy CLIP.

Every method gets its CLIP from :func:`create_clip`, so a user's backbone choice (``--backbone``,
``--pretrained``) means the same thing for all of them.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

from ..errors import HarnessError, closest

EMBEDDED_BACKBONE = "toy-vit"  # the default; harness.models.toyclip.TOY_MODELS lists every embedded size
EMBEDDED_BACKBONES = ("toy-vit-s", "toy-vit", "toy-vit-l")  # = toyclip.TOY_MODELS (kept import-free here)
EMBEDDED_TAG = "embedded"
RANDOM_TAGS = {None, "", "none", "random", "scratch"}
# Architectures users of this field run; any other open_clip ViT name works too.
COMMON_BACKBONES = ("toy-vit", "ViT-B-32", "ViT-B-16", "ViT-L-14", "ViT-L-14-336")


def is_embedded_backbone(name: str | None) -> bool:
    """Whether ``name`` (None = the default) is one of the embedded toy CLIP sizes: those get the "embedded"
    weights by default, the methods' ``embedded:`` schedules and the single-thread CPU setting."""
    return name is None or name in EMBEDDED_BACKBONES


def _ensure_toy_registered() -> None:
    from . import toyclip

    toyclip.register_toy_config()


def list_backbones() -> list[str]:
    """open_clip ViT architectures the harness can build (names accepted by ``--backbone``)."""
    import open_clip

    _ensure_toy_registered()
    return [m for m in open_clip.list_models() if "ViT" in m or m in EMBEDDED_BACKBONES]


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


def _needed_packages(name: str) -> list[tuple[str, str]]:
    """(package, why) for each optional package an open_clip architecture needs that is not importable:
    Hugging Face text towers and tokenizers need ``transformers``, timm vision towers need ``timm``."""
    import importlib.util

    import open_clip

    config = open_clip.get_model_config(name) or {}
    text, vision = config.get("text_cfg") or {}, config.get("vision_cfg") or {}
    needs = []
    if text.get("hf_model_name") or text.get("hf_tokenizer_name"):
        needs.append(("transformers", f"its Hugging Face text tower/tokenizer "
                                      f"{text.get('hf_model_name') or text.get('hf_tokenizer_name')}"))
    if vision.get("timm_model_name"):
        needs.append(("timm", f"its timm vision tower {vision['timm_model_name']}"))
    missing = [(package, why) for package, why in needs if importlib.util.find_spec(package) is None]
    if not missing and vision.get("timm_model_name"):
        import timm

        if not timm.is_model(vision["timm_model_name"]):
            missing.append(("timm", f"a timm version that knows {vision['timm_model_name']} "
                                    f"(installed timm {timm.__version__} does not)"))
    return missing


def check_backbone(name: str) -> None:
    """Refuse, in one line, an architecture that is unknown or whose optional packages are missing:
    ``python -m harness list`` shows every open_clip config, including ones that need extra packages."""
    import open_clip

    _ensure_toy_registered()
    known = open_clip.list_models()
    if name not in known:
        raise HarnessError(f"unknown backbone {name!r}{closest(name, known)}; `python -m harness list` shows the "
                           f"open_clip architectures (e.g. {', '.join(COMMON_BACKBONES)})")
    missing = _needed_packages(name)
    if missing:
        packages = sorted({package for package, _ in missing})
        raise HarnessError(f"backbone {name} needs {' and '.join(why for _, why in missing)}; install it with "
                           f"`pip install {' '.join(packages)}`, or choose a plain ViT "
                           f"(e.g. {', '.join(COMMON_BACKBONES[1:])})")


#: seconds the model hub may take to answer before it counts as unreachable
HUB_PROBE_TIMEOUT_S = 3.0


def _hub_reachable(url: str) -> bool:
    """One HEAD request with a short timeout, no retries (huggingface_hub's own downloads retry for ~1 min and
    print a warning per retry before failing); run in a thread so a hanging DNS lookup cannot block either."""
    import threading

    outcome: list[bool] = []

    def probe():
        try:
            try:
                from huggingface_hub.utils import get_session

                get_session().head(url, timeout=HUB_PROBE_TIMEOUT_S)
            except ImportError:
                import urllib.request

                urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=HUB_PROBE_TIMEOUT_S)
            outcome.append(True)
        except Exception as error:  # any answer at all (even an HTTP error status) means the host is reachable
            outcome.append(getattr(error, "code", None) is not None or getattr(error, "response", None) is not None)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(HUB_PROBE_TIMEOUT_S + 1)
    return bool(outcome and outcome[0])


def _cached_weights(cfg: dict) -> tuple[str | None, str]:
    """(local file or None, where it was looked for / would come from) for an open_clip pretrained config,
    without touching the network."""
    hub = cfg.get("hf_hub") or ""
    url = cfg.get("url") or ""
    try:
        import huggingface_hub
        from huggingface_hub import constants
    except ImportError:
        huggingface_hub = None
    if hub and huggingface_hub is not None:
        repo, filename = os.path.split(hub)  # open_clip's form: "org/model/" or "org/model/file.bin"
        filename = filename or "open_clip_pytorch_model.bin"
        # open_clip prefers a .safetensors twin of the file when the repository has one
        names = [filename.replace("open_clip_pytorch_model.bin", "open_clip_model.safetensors"),
                 filename.rsplit(".", 1)[0] + ".safetensors", filename]
        for candidate in dict.fromkeys(names):
            found = huggingface_hub.try_to_load_from_cache(repo, candidate)
            if isinstance(found, str) and os.path.isfile(found):
                return found, f"{constants.ENDPOINT}/{repo}"
        return None, f"{constants.ENDPOINT}/{repo} (cache {constants.HF_HUB_CACHE})"
    if url:
        local = Path(os.path.expanduser("~/.cache/clip")) / os.path.basename(url)
        return (str(local) if local.is_file() else None), f"{url} (cache {local.parent})"
    return None, "nowhere (the tag names no download)"


class _HubOffline:
    """huggingface_hub in offline mode for one model build: weights already in its cache load without any
    request (its online path would first ask the hub for a newer revision, retrying when there is no network)."""

    def __enter__(self):
        try:
            from huggingface_hub import constants
        except ImportError:
            self.constants = None
            return self
        self.constants, self.saved = constants, constants.HF_HUB_OFFLINE
        constants.HF_HUB_OFFLINE = True
        return self

    def __exit__(self, *exc):
        if self.constants is not None:
            self.constants.HF_HUB_OFFLINE = self.saved
        return False


def _hub_weights_or_refuse(name: str, tag: str) -> str | None:
    """The cached weights file when the tag's weights are in the local cache (then the build runs offline).
    Otherwise the hub must answer within seconds, else one line says how to get the checkpoint: never a
    minute of retry warnings."""
    import open_clip

    cfg = open_clip.get_pretrained_cfg(name, tag) or {}
    local, where = _cached_weights(cfg)
    if local is not None:
        return local
    from urllib.parse import urlsplit

    probe = where.split(" ")[0]
    parts = urlsplit(probe)
    if not _hub_reachable(f"{parts.scheme}://{parts.netloc}" if parts.netloc else probe):
        raise HarnessError(f"pretrained weights {name}/{tag} are not downloaded (looked for {where}) and "
                           f"{parts.netloc or 'the model hub'} cannot be reached from this machine; download the "
                           "checkpoint on a machine with network and pass --pretrained /path/to/checkpoint")
    return None


def create_clip(name: str = EMBEDDED_BACKBONE, pretrained: str | None = EMBEDDED_TAG, quick_gelu="auto",
                precision: str = "fp32"):
    """Build an open_clip CLIP model.

    ``pretrained`` is an open_clip tag (its weights from the local hub cache, else downloaded; with no
    network a one-line error within seconds), a local checkpoint path, ``embedded`` (the project's own toy
    CLIP, built on first use) or ``none`` (random init at full size, for tests and profiling). Errors are one
    line that says what to do instead.
    """
    import open_clip

    check_backbone(name)
    tag = pretrained if pretrained not in RANDOM_TAGS else None
    if tag == EMBEDDED_TAG:
        if not is_embedded_backbone(name):
            raise HarnessError(f"pretrained 'embedded' exists only for the embedded backbones "
                               f"({', '.join(EMBEDDED_BACKBONES)}); for {name} give an open_clip tag, a local "
                               "checkpoint path, or 'none' for random weights")
        from .toyclip import ensure_toy_clip

        tag = str(ensure_toy_clip(name=name))
    force_quick_gelu = resolve_quick_gelu(name, pretrained, quick_gelu)
    cached = None
    if tag is not None and Path(tag).is_dir():
        raise HarnessError(f"--pretrained {tag!r} is a folder; give the checkpoint file inside it")
    if tag is not None and not Path(tag).exists():
        looks_like_path = os.path.sep in tag or tag.endswith((".pt", ".pth", ".bin", ".safetensors"))
        if looks_like_path:
            raise HarnessError(f"checkpoint {tag!r} does not exist; give the path of a local open_clip/OpenAI "
                               "checkpoint file, or an open_clip tag")
        tags = open_clip.list_pretrained_tags_by_model(name)
        if tag not in tags:
            raise HarnessError(f"unknown pretrained tag {tag!r} for {name}{closest(tag, tags)}; known tags: "
                               f"{', '.join(tags) or 'none'}; or pass a local checkpoint path")
        cached = _hub_weights_or_refuse(name, tag)
    quiet = logging.getLogger()
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # open_clip warns "initialized randomly" on every random-init build
    try:
        with (_HubOffline() if cached else _NoContext()):
            model = open_clip.create_model(name, pretrained=tag, precision=precision, device="cpu",
                                           force_quick_gelu=force_quick_gelu)
    except HarnessError:
        raise
    except Exception as error:  # network, corrupt file, wrong architecture for the checkpoint
        if cached:
            raise HarnessError(f"the cached weights of {name}/{tag} ({cached}) could not be loaded "
                               f"({type(error).__name__}: {_first_line(error)}); delete that file to download it "
                               "again, or pass --pretrained /path/to/checkpoint") from None
        if tag is not None and not Path(tag).exists():
            raise HarnessError(f"could not fetch pretrained weights {name}/{tag} ({type(error).__name__}: "
                               f"{_first_line(error)}); this needs the model hub — download the "
                               "checkpoint on a machine with network and pass --pretrained /path/to/checkpoint") from None
        raise HarnessError(f"could not load checkpoint {tag!r} into {name} ({type(error).__name__}: "
                           f"{_first_line(error)}); check that the file is an open_clip/OpenAI "
                           "checkpoint of this architecture") from None
    finally:
        quiet.setLevel(level)
    model.harness_backbone = dict(name=name, pretrained=pretrained if pretrained not in RANDOM_TAGS else "none",
                                  quick_gelu=force_quick_gelu,
                                  weights_sha256=_sha256(tag) if tag is not None and Path(tag).is_file() else None)
    return model


class _NoContext:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _first_line(error: Exception, limit: int = 160) -> str:
    """The first line of an exception message, capped: it goes inside a one-line error that must stay readable."""
    text = (str(error).splitlines() or [""])[0]
    return text if len(text) <= limit else text[:limit] + "…"


def _sha256(path: str) -> str:
    """Checkpoint hash for the run record (what weights produced a number); cached per file version."""
    from ..data.formats import sha256_file

    return sha256_file(path)


_TOKENIZERS: dict = {}


def get_tokenizer(name: str):
    """open_clip's tokenizer for the architecture; a Hugging Face tokenizer must already be in the local hub
    cache or the hub must answer (checked in seconds), never a minute of retries. Built once per architecture
    per process (the BPE tables take ~0.5 s to parse, paid by every model build before)."""
    if name not in _TOKENIZERS:
        _TOKENIZERS[name] = _build_tokenizer(name)
    return _TOKENIZERS[name]


def _build_tokenizer(name: str):
    import open_clip

    check_backbone(name)
    hf_name = ((open_clip.get_model_config(name) or {}).get("text_cfg") or {}).get("hf_tokenizer_name")
    if hf_name:
        try:
            import huggingface_hub
            from huggingface_hub import constants
        except ImportError:
            huggingface_hub = None
        if huggingface_hub is not None:
            cached = huggingface_hub.try_to_load_from_cache(hf_name, "tokenizer_config.json")
            if isinstance(cached, str):
                with _HubOffline():
                    return open_clip.get_tokenizer(name)
            if not _hub_reachable(constants.ENDPOINT):
                raise HarnessError(f"backbone {name} needs the Hugging Face tokenizer {hf_name}, which is not in the "
                                   f"local hub cache ({constants.HF_HUB_CACHE}) and {constants.ENDPOINT} cannot be "
                                   "reached; fetch it once on a machine with network (copy the cache, or set "
                                   "HF_HOME) or choose a plain ViT backbone")
    return open_clip.get_tokenizer(name)


def preprocess_cfg(model) -> dict:
    """Input size and normalisation the backbone was trained with (open_clip's preprocess_cfg)."""
    cfg = dict(getattr(model.visual, "preprocess_cfg", {}) or {})
    size = cfg.get("size", model.visual.image_size)
    size = size[0] if isinstance(size, (tuple, list)) else size
    return dict(size=int(size), mean=tuple(cfg.get("mean", (0.48145466, 0.4578275, 0.40821073))),
                std=tuple(cfg.get("std", (0.26862954, 0.26130258, 0.27577711))))
