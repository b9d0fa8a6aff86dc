"""Generators of every kind of bad or odd video file the pipeline must survive (issue: bad videos)."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def write_mp4(path: Path, frames: int, width: int, height: int, color: bool = True, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (width, height), color)
    for _ in range(frames):
        frame = rng.integers(0, 255, (height, width, 3) if color else (height, width), dtype=np.uint8)
        writer.write(frame)
    writer.release()
    return path


def write_gif(path: Path, frames: int = 6, size: int = 24) -> Path:
    from PIL import Image

    images = [Image.fromarray(np.full((size, size, 3), 40 * i % 255, np.uint8)) for i in range(frames)]
    images[0].save(path, save_all=True, append_images=images[1:], duration=100, loop=0)
    return path


def make_bad_videos(folder: Path) -> dict[str, bool]:
    """Write the files; returns {relative name: expected to decode}."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "zero_bytes.mp4").write_bytes(b"")
    (folder / "not_a_video.mp4").write_text("this is a text file, not a video\n" * 20)
    good = write_mp4(folder / "full.mp4", 30, 64, 48, seed=1)
    data = good.read_bytes()
    (folder / "truncated.mp4").write_bytes(data[: len(data) // 3])
    write_mp4(folder / "one_frame.mp4", 1, 64, 48, seed=2)
    write_mp4(folder / "three_frames.mp4", 3, 64, 48, seed=3)
    write_mp4(folder / "odd_17x13.mp4", 12, 17, 13, seed=4)
    write_mp4(folder / "portrait.mp4", 12, 36, 64, seed=5)
    write_mp4(folder / "grayscale.mp4", 12, 40, 40, color=False, seed=6)
    write_gif(folder / "animated.gif")
    return {"zero_bytes.mp4": False, "not_a_video.mp4": False, "truncated.mp4": False, "full.mp4": True,
            "one_frame.mp4": True, "three_frames.mp4": True, "odd_17x13.mp4": True, "portrait.mp4": True,
            "grayscale.mp4": True, "animated.gif": True}
