"""The synthetic visual world shared by the embedded benchmark and the toy CLIP's pretraining images.

One world for both is the point: the toy CLIP learns colour and shape words from still images of this world,
so it can recognise video classes it was never trained on (new colour × shape combinations, phrased with
motion words it never saw), just as web-pretrained CLIP recognises HMDB classes.

A scene is a noisy, tinted background and one or two anti-aliased shapes (:class:`Thing`). Geometry is in
fractions of the canvas, so the same scene renders at any size. Everything random comes from a numpy
``Generator`` the caller passes, so a scene or video is a pure function of its seed.

The core renderer is vectorised over a batch (:func:`render_batch`), because pretraining draws hundreds of
images per step; :func:`render_frame` and :func:`render_video` are thin wrappers over it.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np

# Eight hues that stay distinguishable after mp4 chroma subsampling and a 2× downscale.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (225, 40, 40), "orange": (250, 140, 25), "yellow": (240, 225, 45), "green": (45, 180, 65),
    "cyan": (45, 215, 230), "blue": (40, 80, 240), "purple": (150, 55, 215), "white": (245, 245, 245),
}
# Not a class colour: distractors in videos are grey; pretraining captions name it like any other colour.
COLOURS["gray"] = (150, 150, 150)
CLASS_COLOURS: tuple[str, ...] = tuple(c for c in COLOURS if c != "gray")
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "cross", "ring", "diamond")
# Radius (half the extent of the shape) as a fraction of the canvas side.
SIZES: dict[str, tuple[float, float]] = {"small": (0.12, 0.16), "large": (0.19, 0.25)}
SIZE_THRESHOLD = 0.175  # radius above which a thing is described as "large"
# Things are drawn like stickers, with a dark outline (width in canvas fractions). Why: a tiny ViT learns
# colour at once but shape only slowly from plain coloured silhouettes; a colour-independent dark edge makes
# shape much easier to learn (supervised probe on toy-vit, 300 steps of 64 images: 21% -> 56% shape accuracy),
# which helps the methods that train on the source videos.
OUTLINE = 0.04
OUTLINE_DARKNESS = 0.85
ROWS = ("top", "middle", "bottom")
COLS = ("left", "center", "right")

# Motions of the appearance datasets: they make class videos look like actions but never decide the class.
APPEARANCE_MOTIONS = ("bouncing", "drifting", "shaking", "sliding", "hopping", "circling", "pulsing", "blinking")
# Motions of the temporal dataset come in pairs; the second of each pair is the time reversal of the first,
# so the multiset of frames (hence any frame average) has the same distribution for both. Every pair changes
# something the toy CLIP sees in a single frame (size, opacity, colour, shape): the position pairs of
# generator v2 (left/right, up/down, clockwise/counterclockwise) were dropped because the toy CLIP's frame
# features hardly encode position — a linear probe on frozen frame differences (16 shots, 400 test videos) told
# their direction at chance (52, 57, 55 % within the pair) while it told size and opacity at 100 and 96 %.
TEMPORAL_PAIRS: tuple[tuple[str, str], ...] = (
    ("growing", "shrinking"), ("fading_in", "fading_out"), ("red_to_blue", "blue_to_red"),
    ("circle_to_square", "square_to_circle"), ("yellow_to_green", "green_to_yellow"),
)
#: colour changes of the temporal pairs: motion → (first colour, last colour)
COLOUR_CHANGES = {"red_to_blue": ("red", "blue"), "yellow_to_green": ("yellow", "green")}
#: shape changes of the temporal pairs: motion → (first shape, last shape)
SHAPE_CHANGES = {"circle_to_square": ("circle", "square")}
_REVERSED = {b: a for a, b in TEMPORAL_PAIRS}


@dataclass(frozen=True)
class Thing:
    """One shape in a scene: centre (x, y) and radius in canvas fractions, opacity, colour name and RGB."""

    shape: str
    colour: str
    x: float = 0.5
    y: float = 0.5
    radius: float = 0.2
    alpha: float = 1.0
    rgb: tuple[float, float, float] | None = None  # jittered colour; None = the palette colour

    @property
    def size_word(self) -> str:
        return "large" if self.radius >= SIZE_THRESHOLD else "small"

    @property
    def position_words(self) -> str:
        """'top left', 'bottom', 'center', ... from the centre's third of the canvas."""
        row = ROWS[min(2, int(self.y * 3))]
        col = COLS[min(2, int(self.x * 3))]
        if row == "middle":
            return col
        return row if col == "center" else f"{row} {col}"


def sample_thing(rng: np.random.Generator, colour: str | None = None, shape: str | None = None,
                 size: str | None = None) -> Thing:
    """A thing with the given (or random) attributes, a jittered colour and a random position inside the canvas."""
    colour = colour or str(rng.choice(list(COLOURS)))
    shape = shape or str(rng.choice(SHAPES))
    size = size or str(rng.choice(list(SIZES)))
    radius = float(rng.uniform(*SIZES[size]))
    x, y = (float(v) for v in rng.uniform(radius, 1 - radius, size=2))
    return Thing(shape, colour, x, y, radius, 1.0, jitter_colour(rng, colour))


def jitter_colour(rng: np.random.Generator, colour: str, amount: float = 18.0) -> tuple[float, float, float]:
    base = np.asarray(COLOURS[colour], dtype=np.float64)
    return tuple(float(v) for v in np.clip(base + rng.normal(0.0, amount / 2, 3), 0, 255))


def make_backgrounds(rng: np.random.Generator, n: int, size: int, noise: float = 7.0) -> np.ndarray:
    """(n, size, size, 3) float32 backgrounds: a grey level, a tint, a linear shading ramp and pixel noise."""
    level = rng.uniform(45, 150, size=(n, 1, 1, 1))
    tint = rng.normal(0, 8, size=(n, 1, 1, 3))
    ramp = rng.normal(0, 15, size=(n, 2, 1, 1, 1))
    axis = np.linspace(-0.5, 0.5, size, dtype=np.float32)
    shade = ramp[:, 0] * axis[None, :, None, None] + ramp[:, 1] * axis[None, None, :, None]
    grain = rng.standard_normal(size=(n, size, size, 3), dtype=np.float32) * np.float32(noise)
    return (level + tint + shade).astype(np.float32) + grain


def _sdf(code: int, dx: np.ndarray, dy: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Signed distance (pixels, negative inside) of shape ``SHAPES[code]`` with radius r at offset (dx, dy)."""
    ax, ay = np.abs(dx), np.abs(dy)
    name = SHAPES[code]
    if name == "circle":
        return np.sqrt(dx * dx + dy * dy) - r
    if name == "square":
        return np.maximum(ax, ay) - 0.85 * r
    if name == "diamond":
        return (ax + ay - 1.2 * r) * 0.7071
    if name == "ring":
        return np.abs(np.sqrt(dx * dx + dy * dy) - 0.72 * r) - 0.28 * r
    if name == "cross":
        arm = 0.32 * r
        return np.minimum(np.maximum(ax - r, ay - arm), np.maximum(ax - arm, ay - r))
    if name == "triangle":  # equilateral, pointing up (image y grows downwards), circumradius 1.2 r
        inner = 0.6 * r
        d1 = dy - inner
        d2 = 0.866 * ax - 0.5 * dy - inner
        return np.maximum(d1, d2)
    raise ValueError(f"unknown shape {name!r}")


def composite(images: np.ndarray, shape_codes: np.ndarray, x: np.ndarray, y: np.ndarray, radius: np.ndarray,
              alpha: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """Paint one thing per image onto ``images`` (n, S, S, 3) float32, in place; geometry in canvas fractions.

    Rows with alpha 0 are left untouched (a batch slot without a second thing).
    """
    n, size = images.shape[0], images.shape[1]
    grid = (np.arange(size, dtype=np.float32) + 0.5)
    px = grid[None, None, :] - (x * size)[:, None, None].astype(np.float32)
    py = grid[None, :, None] - (y * size)[:, None, None].astype(np.float32)
    r = (radius * size)[:, None, None].astype(np.float32)
    dist = np.empty((n, size, size), dtype=np.float32)
    for code in np.unique(shape_codes):
        rows = np.nonzero(shape_codes == code)[0]
        dist[rows] = _sdf(int(code), px[rows], py[rows], r[rows])
    opacity = alpha[:, None, None].astype(np.float32)
    cover = (np.clip(0.5 - dist, 0.0, 1.0) * opacity)[..., None]
    half = np.float32(OUTLINE * size / 2)
    edge = (np.clip(half + 0.5 - np.abs(dist - half), 0.0, 1.0) * opacity)[..., None]  # a band just outside
    images *= 1.0 - OUTLINE_DARKNESS * edge
    images *= 1.0 - cover
    images += cover * rgb[:, None, None, :].astype(np.float32)
    return images


def render_batch(backgrounds: np.ndarray, layers: Sequence[dict]) -> np.ndarray:
    """Render a batch: ``layers`` is a list of dicts of per-image arrays (shape codes, x, y, radius, alpha, rgb),
    painted in order onto a copy of ``backgrounds``. Returns uint8 (n, S, S, 3)."""
    images = backgrounds.astype(np.float32, copy=True)
    for layer in layers:
        composite(images, layer["shape"], layer["x"], layer["y"], layer["radius"], layer["alpha"], layer["rgb"])
    return np.clip(images + 0.5, 0, 255).astype(np.uint8)


def _layer(things: Sequence[Thing]) -> dict:
    return dict(shape=np.array([SHAPES.index(t.shape) for t in things]),
                x=np.array([t.x for t in things]), y=np.array([t.y for t in things]),
                radius=np.array([t.radius for t in things]), alpha=np.array([t.alpha for t in things]),
                rgb=np.array([t.rgb or COLOURS[t.colour] for t in things], dtype=np.float64))


def render_frame(things: Sequence[Thing], background: np.ndarray) -> np.ndarray:
    """One frame (H, W, 3) uint8: ``things`` painted in order (last on top) over a float background."""
    return render_batch(background[None], [_layer([t]) for t in things])[0]


def _bounce(p: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Fold positions into [lo, hi] as a ball reflecting off the walls."""
    span = hi - lo
    q = np.mod(p - lo, 2 * span)
    return lo + np.where(q > span, 2 * span - q, q)


def trajectory(motion: str, thing: Thing, rng: np.random.Generator, frames: int) -> list[Thing]:
    """The thing in each of ``frames`` frames under ``motion`` (one of APPEARANCE_MOTIONS or a temporal one)."""
    if motion in _REVERSED:
        return trajectory(_REVERSED[motion], thing, rng, frames)[::-1]
    t = np.arange(frames, dtype=np.float64)
    u = t / max(1, frames - 1)  # 0..1 over the clip
    r = thing.radius
    lo, hi = r, 1 - r
    x = np.full(frames, thing.x)
    y = np.full(frames, thing.y)
    radius = np.full(frames, r)
    alpha = np.full(frames, thing.alpha)
    if motion == "bouncing":
        v = rng.uniform(0.05, 0.08) * np.array([np.cos(a := rng.uniform(0, 2 * np.pi)), np.sin(a)])
        x, y = _bounce(thing.x + v[0] * t, lo, hi), _bounce(thing.y + v[1] * t, lo, hi)
    elif motion == "drifting":
        v = rng.uniform(0.012, 0.022) * np.array([np.cos(a := rng.uniform(0, 2 * np.pi)), np.sin(a)])
        x, y = _bounce(thing.x + v[0] * t, lo, hi), _bounce(thing.y + v[1] * t, lo, hi)
    elif motion == "shaking":
        x = np.clip(thing.x + rng.normal(0, 0.03, frames), lo, hi)
        y = np.clip(thing.y + rng.normal(0, 0.03, frames), lo, hi)
    elif motion == "sliding":
        amp = min(0.25, (hi - lo) / 2)
        x = 0.5 + amp * np.sin(2 * np.pi * (u * rng.uniform(1.0, 1.5) + rng.uniform(0, 1)))
    elif motion == "hopping":
        base = hi
        y = base - (hi - lo) * 0.7 * np.abs(np.sin(np.pi * (u * rng.uniform(2, 3) + rng.uniform(0, 1))))
    elif motion == "circling":
        orbit = min(0.2, 0.5 - r)
        phase = rng.uniform(0, 2 * np.pi) + rng.choice([-1, 1]) * 2 * np.pi * u
        x, y = 0.5 + orbit * np.cos(phase), 0.5 + orbit * np.sin(phase)
    elif motion == "pulsing":
        radius = r * (1 + 0.22 * np.sin(2 * np.pi * (u * 2 + rng.uniform(0, 1))))
    elif motion == "blinking":
        period = int(rng.integers(3, 5))
        alpha = np.where(((t + rng.integers(0, period)) // period) % 2 == 0, thing.alpha, 0.35 * thing.alpha)
    elif motion in COLOUR_CHANGES:  # a ramp between two palette colours that starts and ends at a random time
        first, last = (np.array(COLOURS[c], dtype=np.float64) for c in COLOUR_CHANGES[motion])
        w = np.clip((u - (a := rng.uniform(0.0, 0.3))) / (rng.uniform(0.7, 1.0) - a), 0.0, 1.0)
        rgb = first[None] * (1 - w[:, None]) + last[None] * w[:, None]
        return [replace(thing, rgb=tuple(float(v) for v in rgb[i])) for i in range(frames)]
    elif motion in SHAPE_CHANGES:  # the shape switches once, somewhere in the middle third
        first, last = SHAPE_CHANGES[motion]
        switch = int(rng.integers(frames // 3, frames - frames // 3 + 1))
        return [replace(thing, shape=first if i < switch else last) for i in range(frames)]
    elif motion == "growing":
        small, large = rng.uniform(0.06, 0.09), rng.uniform(0.24, 0.3)
        radius = small + (large - small) * u
        x = np.full(frames, rng.uniform(0.4, 0.6))
        y = np.full(frames, rng.uniform(0.4, 0.6))
    elif motion == "fading_in":
        alpha = np.clip(1.25 * u - 0.1, 0.0, 1.0) * thing.alpha
    else:
        raise ValueError(f"unknown motion {motion!r}")
    return [replace(thing, x=float(x[i]), y=float(y[i]), radius=float(radius[i]), alpha=float(alpha[i]))
            for i in range(frames)]


def render_video(rng: np.random.Generator, thing: Thing, motion: str, frames: int = 16, size: int = 64,
                 distractor: Thing | None = None) -> np.ndarray:
    """(frames, size, size, 3) uint8 RGB: ``thing`` moving under ``motion`` over a static noisy background,
    with an optional static ``distractor`` painted underneath it."""
    background = make_backgrounds(rng, 1, size)[0]
    path = trajectory(motion, thing, rng, frames)
    layers = []
    if distractor is not None:
        layers.append(_layer([distractor] * frames))
    layers.append(_layer(path))
    return render_batch(np.broadcast_to(background, (frames, size, size, 3)), layers)


def random_scenes(rng: np.random.Generator, n: int, size: int, second_prob: float = 0.35,
                  noise: float = 4.0) -> tuple[np.ndarray, list[tuple[Thing, Thing | None]]]:
    """``n`` random still scenes for pretraining: (uint8 images (n, size, size, 3), [(main thing, second or None)]).

    The main thing is the larger one and is painted on top. Radii span the sizes the videos show (including the
    extremes of growing/shrinking), some things are semi-transparent (as in fades), and ``noise`` is the pixel
    noise after the 2× downscale the videos go through, so stills and decoded frames look alike.
    """
    names = list(COLOURS)
    colour_p = np.array([0.0 if c == "gray" else 1.0 for c in names])
    colour_p = 0.96 * colour_p / colour_p.sum() + 0.04 * np.array([c == "gray" for c in names], dtype=float)
    main_colour = rng.choice(len(names), size=n, p=colour_p)
    main_shape = rng.integers(0, len(SHAPES), size=n)
    main_r = rng.uniform(0.11, 0.3, size=n)
    main_x = rng.uniform(main_r, 1 - main_r)
    main_y = rng.uniform(main_r, 1 - main_r)
    main_a = np.where(rng.random(n) < 0.15, rng.uniform(0.45, 1.0, size=n), 1.0)
    has_second = rng.random(n) < second_prob
    second_colour = (main_colour + rng.integers(1, len(names), size=n)) % len(names)
    second_shape = rng.integers(0, len(SHAPES), size=n)
    second_r = rng.uniform(0.06, 1.0, size=n) * (np.minimum(main_r, 0.15) - 0.06) + 0.06
    second_x = rng.uniform(second_r, 1 - second_r)
    second_y = rng.uniform(second_r, 1 - second_r)
    palette = np.array([COLOURS[c] for c in names], dtype=np.float64)
    main_rgb = np.clip(palette[main_colour] + rng.normal(0, 9, size=(n, 3)), 0, 255)
    second_rgb = np.clip(palette[second_colour] + rng.normal(0, 9, size=(n, 3)), 0, 255)
    backgrounds = make_backgrounds(rng, n, size, noise=noise)
    layers = [dict(shape=second_shape, x=second_x, y=second_y, radius=second_r, alpha=has_second.astype(float),
                   rgb=second_rgb),
              dict(shape=main_shape, x=main_x, y=main_y, radius=main_r, alpha=main_a, rgb=main_rgb)]
    images = render_batch(backgrounds, layers)
    scenes = []
    for i in range(n):
        main = Thing(SHAPES[main_shape[i]], names[main_colour[i]], float(main_x[i]), float(main_y[i]),
                     float(main_r[i]), float(main_a[i]))
        second = (Thing(SHAPES[second_shape[i]], names[second_colour[i]], float(second_x[i]), float(second_y[i]),
                        float(second_r[i])) if has_second[i] else None)
        scenes.append((main, second))
    return images, scenes
