"""Video decoders behind one small interface (``data.decoder``): decord, PyAV or torchcodec.

Each opens a file as a reader with ``len(reader)`` (frame count) and ``reader.frames(indices)`` → (N, H, W, 3)
uint8 RGB. decord and torchcodec seek to the frames; PyAV (no frame-accurate seek that works for every
container) decodes forward up to the last index and keeps the wanted ones, as mmaction2's PyAVDecode does.
torchcodec (optional extra) decodes on the GPU where CUDA is available. The same indices give the same
frames from every decoder on the embedded videos (tests/test_decoders.py).
"""
from __future__ import annotations

import numpy as np

from ..errors import HarnessError, closest

DECODERS = ("decord", "pyav", "torchcodec")


def check_decoder(name: str) -> str:
    """``name`` if it is a decoder this machine can use; otherwise one line naming the problem and the fix."""
    if name not in DECODERS:
        raise HarnessError(f"unknown data.decoder {name!r}{closest(name, DECODERS)}; choose one of "
                           f"{', '.join(DECODERS)}")
    problem = unavailable(name)
    if problem:
        raise HarnessError(f"data.decoder={name} is not usable here: {problem}")
    return name


def unavailable(name: str) -> str | None:
    """Why ``name`` cannot be used on this machine (None when it can)."""
    try:
        if name == "decord":
            import decord  # noqa: F401
        elif name == "pyav":
            import av  # noqa: F401
        else:
            from torchcodec.decoders import VideoDecoder  # noqa: F401
    except ImportError:
        extra = {"torchcodec": "pip install 'videoclip-harness[torchcodec]'", "decord": "pip install decord",
                 "pyav": "pip install av"}[name]
        return f"{name} is not installed ({extra})"
    except (RuntimeError, OSError) as error:  # torchcodec installed, but its FFmpeg libraries are missing
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return f"{name} cannot load ({first}; torchcodec needs FFmpeg's shared libraries, e.g. apt-get install ffmpeg)"
    return None


class DecordReader:
    def __init__(self, path: str):
        import decord

        self._reader = decord.VideoReader(path, num_threads=1)

    def __len__(self) -> int:
        return len(self._reader)

    def frames(self, indices) -> np.ndarray:
        return self._reader.get_batch([int(i) for i in indices]).asnumpy()


class PyAVReader:
    def __init__(self, path: str):
        import av

        self._path = path
        with av.open(path) as container:
            stream = container.streams.video[0]
            count = stream.frames
            if not count:  # containers that do not declare it (GIF, some AVIs): count by demuxing
                count = sum(1 for packet in container.demux(stream) if packet.size)
        self._count = int(count)

    def __len__(self) -> int:
        return self._count

    def frames(self, indices) -> np.ndarray:
        import av

        wanted = [int(i) for i in indices]
        last, decoded = max(wanted), {}
        needed = set(wanted)
        with av.open(self._path) as container:
            for index, frame in enumerate(container.decode(video=0)):
                if index in needed:
                    decoded[index] = frame.to_ndarray(format="rgb24")
                if index >= last:
                    break
        missing = needed - decoded.keys()
        if missing:
            raise IndexError(f"PyAV decodes {len(decoded)} of the wanted frames (frame {min(missing)} missing)")
        return np.stack([decoded[i] for i in wanted])


class TorchCodecReader:
    def __init__(self, path: str):
        import torch
        from torchcodec.decoders import VideoDecoder

        device = "cuda" if torch.cuda.is_available() else "cpu"
        self._decoder = VideoDecoder(path, device=device, seek_mode="exact")

    def __len__(self) -> int:
        return len(self._decoder)

    def frames(self, indices) -> np.ndarray:
        batch = self._decoder.get_frames_at([int(i) for i in indices]).data  # (N, C, H, W) uint8
        return batch.permute(0, 2, 3, 1).cpu().numpy()


READERS = dict(decord=DecordReader, pyav=PyAVReader, torchcodec=TorchCodecReader)


def open_reader(path: str, decoder: str = "decord"):
    """A reader of ``path`` with ``decoder``; its own exceptions propagate (the pipeline turns them into
    counted skips with the reason)."""
    return READERS[decoder](path)
