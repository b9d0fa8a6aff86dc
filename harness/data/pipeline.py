"""The decode + transform pipeline shared by every dataset, embedded or real.

mmaction2's transforms do the geometry (Resize, CenterCrop, ThreeCrop, MultiScaleCrop, Flip, FormatShape,
PackActionInputs). The harness adds three things mmaction2 lacks:

* ``SegmentSample`` — TSN-style sampling as the CLIP video methods do it (one frame per segment; random
  offset in training, segment centres at test, N evenly offset clips for multi-view testing);
* ``DecodeFrames`` — decoding (``data.decoder``: decord, PyAV or torchcodec) with a PyAV fallback (GIFs), strict checks (a frame that cannot be
  decoded is an error, never a silently short clip) and a bounded in-memory cache of decoded videos so test
  views, repeated evaluations and epochs do not decode the same file twice;
* ``VideoListDataset`` — an mmaction2 ``VideoDataset`` over an in-memory list whose unreadable videos are
  *counted skips*: at test time they yield a placeholder marked ``skipped`` that the metric lists and
  excludes; in training they are replaced by another video and logged.
"""
from __future__ import annotations

import os
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np
from mmaction.datasets import VideoDataset
from mmaction.datasets.transforms import (CenterCrop, Flip, FormatShape, MultiScaleCrop, PackActionInputs,
                                          Resize, ThreeCrop)
from mmcv.transforms import BaseTransform

from .lru import ByteBudgetLRU
from ..registry import DATASETS, TRANSFORMS

for _transform in (CenterCrop, Flip, FormatShape, MultiScaleCrop, PackActionInputs, Resize, ThreeCrop):
    TRANSFORMS.register_module(module=_transform, force=True)


@TRANSFORMS.register_module()
class FrameResize(Resize):
    """mmaction2's ``Resize`` with the same cv2 call per frame, minus mmcv's per-call dispatch, and no work
    when the size does not change (cv2 would return a copy of the frame: the output is identical)."""

    _CV2_CODES = {"bilinear": 1, "nearest": 0, "bicubic": 2, "area": 3, "lanczos": 4}  # cv2.INTER_*

    def _resize_imgs(self, imgs, new_w, new_h):
        import cv2

        if not imgs or self.interpolation not in self._CV2_CODES:
            return super()._resize_imgs(imgs, new_w, new_h)
        if all(img.shape[:2] == (new_h, new_w) for img in imgs):
            return list(imgs)
        code = self._CV2_CODES[self.interpolation]
        return [cv2.resize(img, (new_w, new_h), interpolation=code) for img in imgs]


def quiet_decoders() -> None:
    """FFmpeg (inside decord and PyAV) prints its own complaints about broken files to stderr; the harness
    reports each unreadable video itself, once, as a counted skip with its reason."""
    try:
        import decord

        decord.logging.set_level(decord.logging.QUIET)
    except Exception:
        pass
    try:
        import av

        av.logging.set_level(av.logging.PANIC)
    except Exception:
        pass


quiet_decoders()


class VideoDecodeError(RuntimeError):
    """A video that cannot be read as the protocol needs it (the message says why)."""


def one_line(text: str) -> str:
    """The whole text on one line: line breaks and tabs become the visible escapes ``\\n``, ``\\t``, ``\\r``.
    A skip reason is never cut: the decoder's full message is what tells a user why a video failed."""
    return str(text).replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")


def _escape_field(text: str) -> str:
    """Reversible TSV field escaping (backslash first), so a path or reason with tabs or newlines stays one field."""
    return (str(text).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
            .replace("\r", "\\r"))


def _unescape_field(text: str) -> str:
    out, chars = [], iter(text)
    for char in chars:
        if char == "\\":
            nxt = next(chars, "")
            out.append({"t": "\t", "n": "\n", "r": "\r", "\\": "\\"}.get(nxt, "\\" + nxt))
        else:
            out.append(char)
    return "".join(out)


def _error_text(error: Exception) -> str:
    return one_line(str(error))


class DecodeCache(ByteBudgetLRU):
    """Decoded short videos (uint8 arrays), bounded in bytes per process; videos above ``max_video_mb`` are
    never cached."""

    def __init__(self, budget_mb: float = 512, max_video_mb: float = 16):
        super().__init__(int(budget_mb * 2**20), lambda frames: frames.nbytes, int(max_video_mb * 2**20))


DECODE_CACHE = DecodeCache(float(os.environ.get("HARNESS_DECODE_CACHE_MB", 512)))


def _decode_pyav(path: str) -> np.ndarray:
    import av  # decord cannot open GIFs; PyAV can

    try:
        with av.open(path) as container:
            frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    except Exception as error:
        raise VideoDecodeError(f"PyAV could not decode it ({type(error).__name__}: {_error_text(error)})") from None
    if not frames:
        raise VideoDecodeError("no decodable frame")
    return np.stack(frames)


class _NativeStderrSilenced:
    """decord's C++ logger writes "ERROR opening ..." straight to file descriptor 2 for every broken file;
    the harness reports that file itself, so the descriptor is pointed at /dev/null while decord opens it."""

    _lock = threading.Lock()

    def __enter__(self):
        self._lock.acquire()
        try:
            import sys

            sys.stderr.flush()
            self._saved = os.dup(2)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 2)
            os.close(devnull)
        except OSError:
            self._saved = None
        return self

    def __exit__(self, *exc):
        if self._saved is not None:
            os.dup2(self._saved, 2)
            os.close(self._saved)
        self._lock.release()
        return False


def _open_reader(path: str, decoder: str = "decord"):
    """A reader (``harness.data.decoders``) of ``path``, or a VideoDecodeError naming the decoder's complaint."""
    from .decoders import open_reader

    try:
        with _NativeStderrSilenced():
            return open_reader(path, decoder)
    except Exception as error:
        raise VideoDecodeError(f"{decoder} could not open it ({_error_text(error)})") from None


def _open_decord(path: str):
    return _open_reader(path, "decord")


def _check_file(path: str) -> None:
    if not os.path.isfile(path):
        raise VideoDecodeError("file is missing")
    if os.path.getsize(path) == 0:
        raise VideoDecodeError("file is empty (0 bytes)")


def read_all_frames(path: str, decoder: str = "decord") -> np.ndarray:
    """Every frame of a (short) video as (N, H, W, 3) uint8, via ``decoder``, falling back to PyAV."""
    _check_file(path)
    try:
        reader = _open_reader(path, decoder)
        count = len(reader)
        if count == 0:
            raise VideoDecodeError("no frames")
        try:
            frames = reader.frames(range(count))
        except Exception as error:
            raise VideoDecodeError(f"{decoder} failed while decoding ({_error_text(error)})") from None
    except VideoDecodeError as decord_error:
        try:  # PyAV reads what decord cannot: GIFs, odd frame sizes
            frames = _decode_pyav(path)
        except VideoDecodeError as pyav_error:
            raise VideoDecodeError(f"{decord_error}; {pyav_error}") from None
    return _as_rgb(frames)


def _as_rgb(frames: np.ndarray) -> np.ndarray:
    if frames.ndim == 3:  # grayscale (N, H, W)
        frames = np.repeat(frames[..., None], 3, axis=-1)
    if frames.shape[-1] == 1:
        frames = np.repeat(frames, 3, axis=-1)
    if frames.shape[-1] == 4:
        frames = frames[..., :3]
    return np.ascontiguousarray(frames)


@TRANSFORMS.register_module()
class SegmentSample(BaseTransform):
    """TSN-style sampling: ``frames`` segments, one frame each; ``clips`` evenly offset views at test.

    Training: a random offset inside each segment (EZ-CLIP's ``random_shift: False`` is
    ``random_offset=False``: segment centres). Test: clip c of N takes offset (c + 0.5) / N of each segment.
    Videos shorter than ``frames`` repeat frames (mmaction2's loop behaviour), never fail.
    """

    def __init__(self, frames: int, clips: int = 1, test_mode: bool = False, random_offset: bool = True):
        self.frames, self.clips, self.test_mode, self.random_offset = int(frames), int(clips), test_mode, random_offset

    def transform(self, results: dict) -> dict:
        total = int(results["total_frames"])
        if total < 1:
            raise VideoDecodeError("no frames")
        if not self.test_mode and self.random_offset:
            results["frame_inds"] = self._indices(total, self.frames, self.clips, "random")
        else:  # deterministic: computed once per frame count (a measurable share of a small video's cost)
            results["frame_inds"] = self._fixed_indices(total, self.frames, self.clips,
                                                        "test" if self.test_mode else "centre")
        results["clip_len"] = 1
        results["frame_interval"] = None
        results["num_clips"] = len(results["frame_inds"])
        return results

    @staticmethod
    def _indices(total: int, frames: int, clips: int, mode: str) -> np.ndarray:
        segment = total / frames
        starts = np.arange(frames) * segment
        if mode == "random":
            offsets = [np.random.uniform(0, segment, frames)]
        elif mode == "centre":
            offsets = [np.full(frames, segment / 2)]
        else:
            offsets = [np.full(frames, segment * (c + 0.5) / clips) for c in range(clips)]
        inds = np.concatenate([np.floor(starts + o) for o in offsets]).astype(np.int64)
        return np.clip(inds, 0, total - 1)

    @staticmethod
    @lru_cache(maxsize=4096)
    def _fixed_indices(total: int, frames: int, clips: int, mode: str) -> np.ndarray:
        inds = SegmentSample._indices(total, frames, clips, mode)
        inds.setflags(write=False)  # shared between calls: nothing downstream may modify it
        return inds


FRAME_COUNTS: dict[str, int] = {}


@TRANSFORMS.register_module()
class OpenVideo(BaseTransform):
    """Find the frame count of ``filename`` without decoding (remembered per path, so a cached video is
    never reopened). Files the decoder cannot open (decord: GIFs) are decoded whole with PyAV and cached."""

    def __init__(self, decoder: str = "decord"):
        self.decoder = decoder

    def transform(self, results: dict) -> dict:
        path = results["filename"]
        if path in FRAME_COUNTS:
            results["total_frames"] = FRAME_COUNTS[path]
            return results
        _check_file(path)
        try:
            reader = _open_reader(path, self.decoder)
        except VideoDecodeError:
            frames = read_all_frames(path, self.decoder)  # PyAV fallback (GIF) or a clear error
            DECODE_CACHE.put(f"full:{path}", frames)
            results["total_frames"] = FRAME_COUNTS[path] = len(frames)
            return results
        if len(reader) == 0:
            raise VideoDecodeError("no frames")
        results["video_reader"] = reader
        results["total_frames"] = FRAME_COUNTS[path] = len(reader)
        return results


@TRANSFORMS.register_module()
class DecodeFrames(BaseTransform):
    """Gather the sampled frames; a frame that cannot be decoded is an error, never a shorter clip.

    ``cache="sampled"`` (test pipelines) caches exactly the sampled frames, so repeated evaluations and
    views of the same video decode once; ``cache="full"`` (training) decodes and caches whole short videos,
    so random offsets in later epochs need no decoding. ``cache="none"`` disables it.
    """

    def __init__(self, cache: str = "sampled", decoder: str = "decord"):
        self.cache, self.decoder = cache, decoder

    def _pyav_fallback(self, path: str, inds: np.ndarray, expected: int, error: Exception) -> np.ndarray:
        """The decoder opened the file but failed on frames: PyAV must yield the same frame count, else skip."""
        try:
            full = _decode_pyav(path)
        except VideoDecodeError as pyav_error:
            raise VideoDecodeError(f"{self.decoder} failed on sampled frames ({_error_text(error)}); "
                                   f"{pyav_error}") from None
        if len(full) != expected:
            raise VideoDecodeError(f"{self.decoder} failed on sampled frames and PyAV decodes {len(full)} of the "
                                   f"{expected} frames the container declares (truncated or corrupt)")
        return _as_rgb(full)[inds]

    def transform(self, results: dict) -> dict:
        path = results["filename"]
        inds = np.asarray(results["frame_inds"], dtype=np.int64)
        sampled_key = (path, inds.tobytes())
        imgs = DECODE_CACHE.get(f"full:{path}")
        if imgs is not None:
            imgs = imgs[inds]
        elif self.cache == "sampled" and (hit := DECODE_CACHE.get(sampled_key)) is not None:
            imgs = hit
        else:
            reader = results.pop("video_reader", None)
            if reader is None:
                try:
                    reader = _open_reader(path, self.decoder)
                except VideoDecodeError:  # a PyAV-only file evicted from the cache
                    reader = None
            if reader is None:
                full = read_all_frames(path, self.decoder)
                DECODE_CACHE.put(f"full:{path}", full)
                imgs = full[inds]
            elif self.cache == "full" and len(reader) * _frame_bytes(reader) <= DECODE_CACHE.max_item:
                full = read_all_frames(path, self.decoder)
                DECODE_CACHE.put(f"full:{path}", full)
                imgs = full[inds]
            else:
                try:
                    imgs = _as_rgb(reader.frames(inds))
                except Exception as error:
                    imgs = self._pyav_fallback(path, inds, len(reader), error)
                if self.cache == "sampled":
                    DECODE_CACHE.put(sampled_key, imgs)
        results.pop("video_reader", None)
        if imgs.ndim != 4 or imgs.shape[-1] != 3 or min(imgs.shape[1:3]) < 1:
            raise VideoDecodeError(f"decoded frames have an unusable shape {imgs.shape}")
        results["imgs"] = list(imgs)
        results["original_shape"] = results["img_shape"] = imgs[0].shape[:2]
        return results


def _frame_bytes(reader) -> int:
    return int(reader.frames([0])[0].nbytes)


def build_pipeline(frames: int, input_size: int, train: bool, clips: int = 1, crops: int = 1,
                   flip: bool = True, random_offset: bool = True, resize_ratio: float = 256 / 224,
                   decoder: str = "decord") -> list[dict]:
    """The transform list for training or testing; geometry follows the official CLIP video repos:
    short side → input·256/224, then random multi-scale crop (+ flip) in training, centre/three crops at test."""
    short = int(round(input_size * resize_ratio))
    steps = [dict(type=OpenVideo, decoder=decoder),
             dict(type=SegmentSample, frames=frames, clips=clips, test_mode=not train, random_offset=random_offset),
             dict(type=DecodeFrames, cache="full" if train else "sampled", decoder=decoder),
             dict(type=FrameResize, scale=(-1, short))]
    if train:
        steps += [dict(type=MultiScaleCrop, input_size=input_size, scales=(1, 0.875, 0.75, 0.66),
                       random_crop=False, max_wh_scale_gap=1),
                  dict(type=FrameResize, scale=(input_size, input_size), keep_ratio=False)]
        if flip:
            steps.append(dict(type=Flip, flip_ratio=0.5))
    elif crops == 3:
        steps.append(dict(type=ThreeCrop, crop_size=input_size))
    elif crops == 1:
        steps.append(dict(type=CenterCrop, crop_size=input_size))
    else:
        raise ValueError(f"crops must be 1 or 3, got {crops}")
    steps += [dict(type=FormatShape, input_format="NCHW"), dict(type=PackActionInputs, meta_keys=("video", "img_shape"))]
    return steps


@DATASETS.register_module()
class VideoListDataset(VideoDataset):
    """mmaction2's VideoDataset over an in-memory ``[(relative path, label)]`` list.

    Unreadable videos never crash a run. Test mode: a zero placeholder with ``skipped`` set in its metainfo
    (the metric lists it and leaves it out of the accuracy). Training: another video is drawn instead and the
    failure is appended to ``skip_log`` (a file, so worker processes can report too).
    """

    def __init__(self, entries, video_root, pipeline, test_mode=False, skip_log=None, placeholder_shape=None,
                 **kwargs):
        self._entries = [(str(p), int(label)) for p, label in entries]
        self._video_root = str(video_root)
        self.skip_log = str(skip_log) if skip_log else None
        self.placeholder_shape = placeholder_shape
        super().__init__(ann_file="", pipeline=pipeline, data_prefix=dict(video=self._video_root),
                         test_mode=test_mode, **kwargs)

    def load_data_list(self) -> list[dict]:
        return [dict(filename=os.path.join(self._video_root, path), label=label, video=path)
                for path, label in self._entries]

    def _log_skip(self, video: str, reason: str) -> None:
        if self.skip_log:
            with open(self.skip_log, "a", encoding="utf-8") as handle:
                handle.write(f"{_escape_field(video)}\t{_escape_field(reason)}\n")

    def prepare_data(self, idx):
        info = self.get_data_info(idx)
        try:
            return self.pipeline(info)
        except (VideoDecodeError, Exception) as error:  # noqa: B014 — any decode/transform failure is a skip
            reason = _error_text(error) if isinstance(error, VideoDecodeError) else \
                f"{type(error).__name__}: {_error_text(error)}"
            self._log_skip(info["video"], reason)
            if not self.test_mode:
                return None  # BaseDataset draws another index (max_refetch)
            return self._placeholder(info, reason)

    def _placeholder(self, info: dict, reason: str):
        import torch
        from mmaction.structures import ActionDataSample

        sample = ActionDataSample()
        sample.set_gt_label(int(info["label"]))
        sample.set_metainfo(dict(video=info["video"], skipped=True, skip_reason=reason))
        return dict(inputs=torch.zeros(self.placeholder_shape, dtype=torch.uint8), data_samples=sample)


def read_skip_log(path) -> list[dict]:
    """Skips recorded by the datasets of a run (deduplicated, in first-seen order): the video's path as listed
    and its full reason on one line (see :func:`one_line`)."""
    path = Path(path)
    if not path.is_file():
        return []
    seen: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").split("\n"):
        if not line:
            continue
        video, _, reason = line.partition("\t")
        seen.setdefault(_unescape_field(video), one_line(_unescape_field(reason)))
    return [dict(video=v, reason=r) for v, r in seen.items()]
