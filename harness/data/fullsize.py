"""Full-size synthetic clips for the data-path benchmark: what the real path decodes, made offline.

The embedded benchmark's videos are 64×64 (the toy CLIP reads 32×32), so decoding them costs almost nothing
and says little about a real benchmark. Real Kinetics/UCF/HMDB files as mmaction2 prepares them are H.264 at
a short side of 256 (340×256), ~10 s at 30 fps, with a keyframe every ~250 frames (x264's default), so
sampling 8 frames means seeking and decoding long runs of P/B-frames. These clips have that shape: the
embedded world's moving shapes, rendered at full size, with per-frame sensor noise so that inter frames carry
real residuals, encoded with libx264 (PyAV, crf 23, keyframe every 250 frames). The flat synthetic scenes
still compress to ~80–200 kB per 10 s, less than real footage, so decoding them is cheaper than decoding real
videos and the data-path ratio measured on them errs low. Deterministic; cached under
``HARNESS_CACHE/fullsize-v1``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..paths import cache_dir, file_lock
from . import world

VERSION = 1
WIDTH, HEIGHT, FRAMES, FPS = 340, 256, 300, 30
MOTIONS = ("bouncing", "drifting", "circling", "sliding", "hopping", "shaking", "pulsing", "blinking")


def _render(index: int) -> np.ndarray:
    """(FRAMES, HEIGHT, WIDTH, 3) uint8: rendered at half size (4× cheaper), upscaled, noise added."""
    import cv2

    rng = np.random.default_rng([VERSION, index])
    thing = world.sample_thing(rng, str(rng.choice(world.CLASS_COLOURS)))
    half = world.render_video(rng, thing, MOTIONS[index % len(MOTIONS)], FRAMES, WIDTH // 2)
    top = (WIDTH - HEIGHT) // 2
    frames = np.empty((FRAMES, HEIGHT, WIDTH, 3), dtype=np.uint8)
    for t, image in enumerate(half):
        frames[t] = cv2.resize(image, (WIDTH, WIDTH), interpolation=cv2.INTER_LINEAR)[top:top + HEIGHT]
    noise = rng.integers(-6, 7, size=frames.shape, dtype=np.int8)  # sensor noise: residuals in every frame
    return np.clip(frames.astype(np.int16) + noise, 0, 255).astype(np.uint8)


def _write(path: Path, frames: np.ndarray) -> None:
    import av

    tmp = path.with_suffix(".tmp.mp4")
    with av.open(str(tmp), mode="w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "23", "g": "250"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    tmp.replace(path)


def ensure_fullsize_clips(count: int = 8, root: Path | None = None) -> list[Path]:
    """Paths of ``count`` full-size H.264 clips, generated on first use (~5 s each on one core)."""
    root = Path(root) if root else cache_dir() / f"fullsize-v{VERSION}"
    paths = [root / f"clip_{i:03d}.mp4" for i in range(count)]
    if all(p.is_file() for p in paths):
        return paths
    with file_lock(root.parent / f".fullsize-v{VERSION}.lock"):
        root.mkdir(parents=True, exist_ok=True)
        for i, path in enumerate(paths):
            if not path.is_file():
                _write(path, _render(i))
    return paths
