"""The embedded backbone: a tiny CLIP with open_clip's architecture, pretrained here on synthetic stills.

Why: the harness must run offline on a fresh CPU-only machine in minutes, so it cannot download CLIP weights.
Instead it pretrains ``toy-vit`` (an ordinary open_clip ViT/text-transformer config, see
``harness/models/model_configs/toy-vit.json``) contrastively on image–caption pairs rendered from the same visual world
as the embedded benchmark (:mod:`harness.data.world`). Like web-pretrained CLIP, it knows colour, shape, size
and position words from still images, never sees a video, and never sees a benchmark class name whole, so the
benchmark's target classes are a genuine zero-shot test.

Captions are varied templates with some "web noise" (random real words inserted), so the text tower tolerates
words it has no grounding for, such as the motion words of the class names.

The checkpoint is a plain ``state_dict`` (``torch.save``), loadable with ``weights_only=True`` through
``open_clip.create_model("toy-vit", pretrained=str(path))``. Pretraining is seeded and runs under
``torch.random.fork_rng``, so it does not disturb the caller's RNG; it keeps the caller's thread count.
``python -m harness.models.toyclip [--backbone toy-vit-s|toy-vit|toy-vit-l] [--force]`` builds one size and prints
its zero-shot check. The sizes (``TOY_MODELS``) differ only in their config; each has its own cache file.
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import json
import logging
import math
import os
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..paths import cache_dir, file_lock

TOY_MODEL_NAME = "toy-vit"
#: the embedded backbone sizes, smallest first; all pretrained by the same RECIPE on the same world. toy-vit is
#: the default (its file name and fingerprint predate the others, so every existing run id stays valid).
TOY_MODELS = ("toy-vit-s", "toy-vit", "toy-vit-l")
VERSION = 2  # the file name's version; edits to config/recipe/captions/world also rebuild (see fingerprint())
CONFIG_DIR = Path(__file__).resolve().parent / "model_configs"
CONFIG_PATH = CONFIG_DIR / f"{TOY_MODEL_NAME}.json"
IMAGE_SIZE = 32
RECIPE = dict(seed=20251201, steps=200, batch=256, lr=2e-3, warmup=20, weight_decay=0.05, noise_word_prob=0.3)

# Words a nuisance insertion must never use: the attribute vocabulary and everything class names are built of.
_RESERVED = set("""red orange yellow green cyan blue purple white gray grey pink black brown violet magenta
circle square triangle cross ring diamond star shape shapes circles squares round box plus disc ball
small large big tiny huge little top bottom left right center centre middle up down side
bouncing drifting shaking sliding hopping circling pulsing blinking moving pushing pulling turning appearing
disappearing growing shrinking fading closer away clockwise counterclockwise something sideways slowly around
place circles into""".split())

_TEMPLATES_ONE = (
    "a photo of a {size} {colour} {shape} at the {pos}",
    "a {colour} {shape}",
    "a {size} {colour} {shape}",
    "{colour} {shape}",
    "a picture of a {colour} {shape} at the {pos}",
    "there is a {colour} {shape} on a noisy background",
    "a {shape} that is {colour}",
    "the {shape} is {colour} and {size}",
    "an image showing a {size} {colour} {shape}",
    "a {colour} {shape} near the {pos} of the image",
    "{size} {shape}, {colour}",
    "a {shape} in {colour}",
    "a photo of the {colour} {shape}",
    "one {colour} {shape} at the {pos}",
)
_TEMPLATES_TWO = (
    " and a {colour} {shape}",
    " next to a {size} {colour} {shape}",
    " with a {colour} {shape} behind it",
    ", also a {colour} {shape}",
)


def register_toy_config() -> None:
    """Make open_clip know every toy size (idempotent: adds each config path only once per process)."""
    import open_clip

    known = set(open_clip.list_models())
    for name in TOY_MODELS:
        if name not in known:
            open_clip.add_model_config(config_path(name))


def _check_name(name: str) -> str:
    if name not in TOY_MODELS:
        from ..errors import HarnessError, closest

        raise HarnessError(f"unknown embedded toy backbone {name!r}{closest(name, TOY_MODELS)}; "
                           f"the embedded sizes are {', '.join(TOY_MODELS)}")
    return name


def config_path(name: str = TOY_MODEL_NAME) -> Path:
    return CONFIG_DIR / f"{_check_name(name)}.json"


def checkpoint_path(name: str = TOY_MODEL_NAME) -> Path:
    """``toy-clip-v2.pt`` for toy-vit (unchanged since before there were sizes), ``toy-clip-v2-<name>.pt`` else."""
    suffix = "" if _check_name(name) == TOY_MODEL_NAME else f"-{name}"
    return cache_dir() / f"toy-clip-v{VERSION}{suffix}.pt"


def fingerprint(name: str = TOY_MODEL_NAME) -> str:
    """Hash of everything the checkpoint is a function of (config, recipe, captions, the world's code).

    Stored beside the checkpoint (``toy-clip-v<VERSION>.json``); a cached checkpoint whose fingerprint differs
    is rebuilt, so an edited recipe never silently reuses stale weights.
    """
    from ..data import world

    digest = hashlib.sha256()
    for part in (str(VERSION), config_path(name).read_text(), json.dumps(RECIPE, sort_keys=True), repr(_TEMPLATES_ONE),
                 repr(_TEMPLATES_TWO), " ".join(sorted(_RESERVED)), Path(world.__file__).read_text()):
        digest.update(part.encode("utf-8") + b"\0")
    return digest.hexdigest()


def _is_current(path: Path, name: str = TOY_MODEL_NAME) -> bool:
    sidecar = path.with_suffix(".json")
    try:
        return path.is_file() and json.loads(sidecar.read_text()).get("fingerprint") == fingerprint(name)
    except (OSError, ValueError):
        return False


_file_lock = file_lock  # harness.paths.file_lock


def ensure_toy_clip(force: bool = False, log: Callable[[str], None] | None = None,
                    name: str = TOY_MODEL_NAME) -> Path:
    """Path of the pretrained toy CLIP checkpoint of size ``name``, pretraining it first if absent, stale or
    ``force``d.

    The checkpoint and its sidecar are written to temporary files and renamed into place (atomic); a lock
    file makes concurrent callers wait for one build instead of pretraining twice.
    """
    path = checkpoint_path(name)
    if not force and _is_current(path, name):
        return path
    with _file_lock(path.with_suffix(".lock")):
        if not force and _is_current(path, name):
            return path  # another process built it while we waited
        import torch

        log = log or _stderr
        log(f"pretraining the embedded toy CLIP {name} once ({RECIPE['steps']} steps, about 1-3 min on 2 cores) "
            f"-> {path}")
        start = time.time()
        state = pretrain(log=log, name=name)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        torch.save(state, tmp)
        os.replace(tmp, path)
        meta = dict(version=VERSION, fingerprint=fingerprint(name), model=name, recipe=RECIPE,
                    seconds=round(time.time() - start, 1), torch_threads=torch.get_num_threads())
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.json.tmp")
        tmp.write_text(json.dumps(meta, indent=1) + "\n")
        os.replace(tmp, path.with_suffix(".json"))
    return path


def _stderr(message: str) -> None:
    """One-time builds report progress on stderr, visible whatever the caller's logging setup."""
    print(message, file=sys.stderr, flush=True)


def load_toy_clip(path: Path | None = None, name: str = TOY_MODEL_NAME):
    """The pretrained toy CLIP in eval mode, loaded the way the harness loads it (open_clip.create_model)."""
    import open_clip

    register_toy_config()
    model = open_clip.create_model(name, pretrained=str(path or ensure_toy_clip(name=name)))
    return model.eval()


# --------------------------------------------------------------------------------------------- captions


@functools.lru_cache(maxsize=1)
def _noise_words() -> tuple[str, ...]:
    """Common whole-word tokens of the CLIP BPE vocabulary, minus the reserved vocabulary (caption noise)."""
    from open_clip.tokenizer import SimpleTokenizer

    encoder = SimpleTokenizer().encoder
    words = [k[:-4] for k, v in sorted(encoder.items(), key=lambda kv: kv[1])
             if k.endswith("</w>") and v < 12000 and k[:-4].isascii() and k[:-4].isalpha() and len(k) >= 7]
    return tuple(w for w in words if w not in _RESERVED)


def caption(rng: np.random.Generator, main, second=None, noise_words: Sequence[str] | None = None,
            noise_prob: float = 0.0) -> str:
    """A caption of a still scene from its attribute words, with a random template and optional noise words."""
    words = dict(size=main.size_word, colour=main.colour, shape=main.shape, pos=main.position_words)
    text = _TEMPLATES_ONE[rng.integers(len(_TEMPLATES_ONE))].format(**words)
    if second is not None and rng.random() < 0.7:
        text += _TEMPLATES_TWO[rng.integers(len(_TEMPLATES_TWO))].format(
            size=second.size_word, colour=second.colour, shape=second.shape)
    if noise_words and rng.random() < noise_prob:
        tokens = text.split(" ")
        for _ in range(int(rng.integers(1, 4))):
            tokens.insert(int(rng.integers(0, len(tokens) + 1)), noise_words[rng.integers(len(noise_words))])
        text = " ".join(tokens)
    return text


class _WordCachedTokenizer:
    """open_clip's tokenizer with a per-word cache: same ids (BPE never crosses a space, and the captions are
    plain lower-case ASCII, so open_clip's text cleaning is a no-op), a fraction of the cost."""

    def __init__(self, tokenizer):
        self.tokenizer, self.words = tokenizer, {}

    def __call__(self, texts: list[str]):
        import torch

        tok, length = self.tokenizer, self.tokenizer.context_length
        out = torch.zeros(len(texts), length, dtype=torch.long)
        for i, text in enumerate(texts):
            ids = [tok.sot_token_id]
            for word in text.split(" "):
                if word not in self.words:
                    self.words[word] = tok.encode(word)
                ids += self.words[word]
            ids = ids[:length - 1] + [tok.eot_token_id]
            out[i, :len(ids)] = torch.tensor(ids)
        return out


# ------------------------------------------------------------------------------------------- pretraining


def _encode_text_prefix(model, tokens):
    """``model.encode_text`` on only the first L positions (L = the batch's longest caption).

    The text tower is causal and pools at the end-of-text token, so this equals the full-context result while
    costing L/context_length of it.
    """
    import torch
    import torch.nn.functional as F

    length = int((tokens != 0).sum(dim=1).max())
    tokens = tokens[:, :length]
    x = model.token_embedding(tokens) + model.positional_embedding[:length]
    x = model.transformer(x, attn_mask=model.attn_mask[:length, :length])
    x = model.ln_final(x)
    x = x[torch.arange(x.shape[0]), tokens.argmax(dim=-1)] @ model.text_projection
    return F.normalize(x, dim=-1)


def _normaliser(model):
    import torch

    cfg = model.visual.preprocess_cfg
    mean = torch.tensor(cfg["mean"]).view(1, 3, 1, 1) * 255
    std = torch.tensor(cfg["std"]).view(1, 3, 1, 1) * 255
    return lambda images: (torch.from_numpy(images).permute(0, 3, 1, 2).float() - mean) / std


def pretrain(steps: int | None = None, seed: int | None = None, log: Callable[[str], None] = print,
             on_step: Callable[[int, object], None] | None = None, name: str = TOY_MODEL_NAME):
    """Contrastively pretrain a fresh toy CLIP of size ``name`` on synthetic stills; returns its ``state_dict``.

    Symmetric InfoNCE with a learnable temperature; captions identical within a batch count as positives of
    each other. Only the token-embedding rows that captions use are updated (sparse gradients), which keeps a
    step cheap despite the 49408-word vocabulary; the other rows keep their random initialisation, as rare words
    do in a real CLIP. ``on_step(step, model)`` is called after every step (for experiments).
    """
    import open_clip
    import torch
    import torch.nn.functional as F

    from ..data import world

    register_toy_config()
    steps = RECIPE["steps"] if steps is None else steps
    seed = RECIPE["seed"] if seed is None else seed
    batch = RECIPE["batch"]
    _check_name(name)
    tokenizer = _WordCachedTokenizer(open_clip.get_tokenizer(name))
    noise_words = _noise_words()
    start = time.time()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)  # "no pretrained weights loaded" is the point here
        try:
            model = open_clip.create_model(name)
        finally:
            root.setLevel(level)
        model.train()
        normalise = _normaliser(model)
        model.token_embedding.sparse = True
        decay, no_decay = [], []
        for pname, param in model.named_parameters():
            if pname == "token_embedding.weight":
                continue
            (decay if param.ndim >= 2 and "positional" not in pname else no_decay).append(param)
        dense = torch.optim.AdamW([dict(params=decay, weight_decay=RECIPE["weight_decay"]),
                                   dict(params=no_decay, weight_decay=0.0)],
                                  lr=RECIPE["lr"], betas=(0.9, 0.98), eps=1e-6)
        sparse = torch.optim.SparseAdam([model.token_embedding.weight], lr=RECIPE["lr"], betas=(0.9, 0.98), eps=1e-6)
        for step in range(steps):
            lr = RECIPE["lr"] * min(1.0, (step + 1) / RECIPE["warmup"]) * 0.5 * (1 + math.cos(math.pi * step / steps))
            for group in dense.param_groups + sparse.param_groups:
                group["lr"] = lr
            rng = np.random.default_rng([seed, step])
            images, scenes = world.random_scenes(rng, batch, IMAGE_SIZE)
            texts = [caption(rng, main, second, noise_words, RECIPE["noise_word_prob"]) for main, second in scenes]
            tokens = tokenizer(texts)
            ids = {}
            text_ids = torch.tensor([ids.setdefault(t, len(ids)) for t in texts])
            same = (text_ids[:, None] == text_ids[None, :]).float()
            targets = same / same.sum(dim=1, keepdim=True)
            image_features = model.encode_image(normalise(images), normalize=True)
            text_features = _encode_text_prefix(model, tokens)
            logits = model.logit_scale.exp() * image_features @ text_features.T
            loss = 0.5 * (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets))
            dense.zero_grad(set_to_none=True)
            sparse.zero_grad(set_to_none=True)
            loss.backward()
            dense.step()
            sparse.step()
            with torch.no_grad():
                model.logit_scale.clamp_(0, math.log(100))
            if on_step is not None:
                on_step(step + 1, model)
            if step % 50 == 0 or step == steps - 1:
                log(f"toy CLIP {name} step {step + 1}/{steps} loss {loss.item():.3f} ({time.time() - start:.0f}s)")
        model.token_embedding.sparse = False
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


# ------------------------------------------------------------------------------------------ zero-shot check


def _uniform_indices(total: int, frames: int) -> list[int]:
    """mmaction2's test-mode uniform sampling: the middle frame of each of ``frames`` equal segments."""
    return [min(total - 1, int((i + 0.5) * total / frames)) for i in range(frames)]


def _video_features(model, paths: list[Path], frames: int, batch_frames: int = 512):
    """Frame-averaged, normalised image features of the videos (decord, uniform frames, bilinear resize).

    All clips are decoded first and their frames encoded in large batches: per-video forward passes would be
    dominated by per-op overhead on a small CPU model.
    """
    import cv2
    import decord
    import torch
    import torch.nn.functional as F

    normalise = _normaliser(model)
    size = model.visual.image_size
    size = size[0] if isinstance(size, (tuple, list)) else size
    clips = []
    for path in paths:
        reader = decord.VideoReader(str(path), num_threads=1)
        clip = reader.get_batch(_uniform_indices(len(reader), frames)).asnumpy()
        clips.append(np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_LINEAR) for f in clip]))
    stacked = np.concatenate(clips)
    with torch.no_grad():
        features = torch.cat([model.encode_image(normalise(stacked[i:i + batch_frames]), normalize=True)
                              for i in range(0, len(stacked), batch_frames)])
    return F.normalize(features.view(len(paths), frames, -1).mean(dim=1), dim=-1)


def zero_shot_check(root: Path | None = None, frames: int = 8, model=None, template: str = "{}",
                    datasets: tuple[str, ...] = ("toy-target-a", "toy-target-b", "toy-temporal"),
                    name: str = TOY_MODEL_NAME) -> dict:
    """Frozen frame-averaged zero-shot top-1 of the toy CLIP on the embedded evaluation lists.

    Returns ``{"<dataset>/<split>": {"top1", "chance", "n_videos", "num_classes"}}``; for ``toy-temporal`` also
    ``pair_top1`` (prediction in the right direction pair) and ``pair_chance``, since there the point is that
    a frame average cannot tell a motion from its reversal.
    """
    import torch
    import open_clip

    from ..data import embedded

    root = Path(root) if root is not None else embedded.ensure_embedded()
    model = model if model is not None else load_toy_clip(name=name)
    tokenizer = open_clip.get_tokenizer(name)
    results = {}
    for dataset, split, classes_file in embedded.evaluation_lists(root, datasets):
        names = embedded.read_classes(root / classes_file)
        entries = embedded.read_list(root / split)
        with torch.no_grad():
            text = model.encode_text(tokenizer([template.format(n) for n in names]), normalize=True)
        video = _video_features(model, [root / p for p, _ in entries], frames)
        pred = (video @ text.T).argmax(dim=1).tolist()
        labels = [label for _, label in entries]
        result = dict(top1=float(np.mean([p == y for p, y in zip(pred, labels)])), chance=1.0 / len(names),
                      n_videos=len(entries), num_classes=len(names))
        if dataset == "toy-temporal":
            pair = embedded.temporal_pair_ids(names)
            result["pair_top1"] = float(np.mean([pair[p] == pair[y] for p, y in zip(pred, labels)]))
            result["pair_chance"] = 1.0 / len(set(pair))
        results[f"{dataset}/{Path(split).stem}"] = result
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.models.toyclip", description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="pretrain again even if the checkpoint exists")
    parser.add_argument("--backbone", default=TOY_MODEL_NAME, choices=TOY_MODELS, help="toy size (default toy-vit)")
    args = parser.parse_args(argv)
    start = time.time()
    path = ensure_toy_clip(force=args.force, log=print, name=args.backbone)
    print(f"checkpoint: {path} ({time.time() - start:.1f}s)")
    for name, r in zero_shot_check(name=args.backbone).items():
        extra = f"  pair {r['pair_top1']:.1%} (chance {r['pair_chance']:.1%})" if "pair_top1" in r else ""
        print(f"{name:28s} top1 {r['top1']:6.1%}  chance {r['chance']:5.1%}  "
              f"({r['top1'] / r['chance']:.1f}x, {r['n_videos']} videos){extra}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
