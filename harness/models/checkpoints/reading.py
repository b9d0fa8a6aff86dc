"""Reading a checkpoint file written by someone else's code, without trusting it and without the network.

Why not plain ``torch.load``: official checkpoints carry training state next to the weights (X-CLIP and ViFi-CLIP
pickle their yacs ``config``; optimizer states may hold numpy scalars). ``weights_only=True`` refuses those
classes, and ``weights_only=False`` would execute whatever the pickle names. So the file is read with
``weights_only=True`` first and, only if that refuses a class, again with an unpickler that builds tensors with
torch's own rebuild functions and replaces every other class the file names by an inert stand-in that is never
called. Weights come out intact; nothing in the file runs.
"""
from __future__ import annotations

import pickle
import re
from pathlib import Path
from types import SimpleNamespace

import torch

from ...errors import HarnessError

#: schemes and prefixes of things that are downloads, not files (the harness never downloads)
REMOTE_PREFIXES = ("http://", "https://", "ftp://", "s3://", "gs://", "hf://", "hf-hub:", "hf_hub:")
_HUB_NAME = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")

#: the globals a weights file needs to rebuild its tensors; everything else becomes an inert stand-in
_TENSOR_GLOBALS = {
    ("torch._utils", "_rebuild_tensor"), ("torch._utils", "_rebuild_tensor_v2"),
    ("torch._utils", "_rebuild_parameter"), ("torch._utils", "_rebuild_parameter_with_state"),
    ("collections", "OrderedDict"), ("torch", "Size"),
}


def refuse_remote(source: str, what: str = "checkpoint") -> None:
    """A URL or a model-hub name is one line saying to download it elsewhere: nothing here downloads."""
    text = str(source)
    if text.startswith(REMOTE_PREFIXES) or (_HUB_NAME.match(text) and not Path(text).exists()
                                             and not Path(text).suffix):
        raise HarnessError(f"{what} {text!r} is a download address, not a local file; the harness never downloads "
                           "(it runs offline) — download the file on a machine with network (README: released "
                           "checkpoints) and pass its local path")


def check_file(source: str, what: str = "checkpoint") -> Path:
    refuse_remote(source, what)
    path = Path(source)
    if path.is_dir():
        raise HarnessError(f"{what} {source} is a folder; give the checkpoint file inside it")
    if not path.is_file():
        raise HarnessError(f"{what} {source} not found; give the path of a checkpoint file (a harness "
                           "final_state_dict.pth / epoch_N.pth, or an official checkpoint of the method)")
    return path


class _Inert:
    """Stands in for any class or function a checkpoint names that is not a tensor building block: it accepts
    whatever the pickle feeds it (arguments, items, state) and does nothing with them."""

    _pickled_as = "?"

    def __new__(cls, *args, **kwargs):
        return object.__new__(cls)

    def __init__(self, *args, **kwargs):
        self.args = args

    def __setstate__(self, state):
        self.state = state

    def __call__(self, *args, **kwargs):  # a pickled callable object, reduced with arguments
        return type(self)(*args)

    def __setitem__(self, key, value):
        self.__dict__.setdefault("items", {})[key] = value

    def append(self, value):
        self.__dict__.setdefault("values", []).append(value)

    def extend(self, values):
        self.__dict__.setdefault("values", []).extend(values)

    def __repr__(self) -> str:
        return f"<not loaded: {self._pickled_as}>"


def _inert_class(module: str, name: str):
    return type(name, (_Inert,), {"_pickled_as": f"{module}.{name}"})


class _TensorsOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in _TENSOR_GLOBALS:
            return super().find_class(module, name)
        if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype):
            return getattr(torch, name)
        return _inert_class(module, name)


def _restricted_pickle_module():
    def load(handle, **kwargs):
        return _TensorsOnlyUnpickler(handle, **kwargs).load()

    return SimpleNamespace(__name__="harness_tensors_only_pickle", Unpickler=_TensorsOnlyUnpickler, load=load,
                           UnpicklingError=pickle.UnpicklingError)


def load_untrusted(path: Path):
    """The object pickled in ``path`` (tensors on the CPU); classes other than tensors come back inert."""
    from ...engine.compat import allow_mmengine_checkpoints

    allow_mmengine_checkpoints()
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception:
        pass
    try:
        return torch.load(path, map_location="cpu", weights_only=False, pickle_module=_restricted_pickle_module())
    except Exception as error:
        raise HarnessError(f"checkpoint {path} is not a readable PyTorch checkpoint ({type(error).__name__}); give "
                           "a file written by torch.save (a harness final_state_dict.pth / epoch_N.pth, or an "
                           "official checkpoint of the method)") from None
