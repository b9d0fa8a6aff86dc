"""How class names compare across datasets (normalised, near: reordered words, compounds, one extra word) and
which class a video's path names (HMDB-51 and UCF-101 file names, class folders): the audit's matching rules."""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Sequence

from .formats import name_key


_STOP = {
    "a", "an", "the", "of", "on", "in", "into", "with", "to", "at", "for", "and", "or", "by",
    "someone", "something", "person", "people", "your", "his", "her", "their", "its",
}


def _split_camel(text: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", text)


def _stem(word: str) -> str:
    """A deliberately small stemmer: -ing (with e-deletion and doubled consonants), plurals, -ed, final e."""
    w = word
    if len(w) > 4 and w.endswith("ing"):
        w = w[:-3]
        if w.endswith("e"):  # dyeing → dy(e)
            w = w[:-1]
        if len(w) > 2 and w[-1] == w[-2] and w[-1] not in "lsz":  # cutting → cut
            w = w[:-1]
    elif len(w) > 4 and w.endswith("ies"):
        w = w[:-3] + "y"
    elif len(w) > 4 and re.search(r"(ss|x|ch|sh)es$", w):
        w = w[:-2]
    elif len(w) > 3 and w.endswith("s") and not w.endswith("ss"):
        w = w[:-1]
    elif len(w) > 4 and w.endswith("ed"):
        w = w[:-2]
    if len(w) > 3 and w.endswith("e"):
        w = w[:-1]
    return w


@lru_cache(maxsize=65536)
def name_tokens(name: str) -> tuple[tuple[str, str], ...]:
    """(word, stem) pairs of a class name after normalisation (CamelCase split, lower case, punctuation and
    parenthesised qualifiers removed, articles and placeholders dropped)."""
    text = _split_camel(str(name))
    text = re.sub(r"\([^)]*\)", " ", text)
    words = re.sub(r"[^0-9a-z]+", " ", text.casefold()).split()
    return tuple((w, _stem(w)) for w in words if w not in _STOP)


def _compound(x: str, y: str) -> bool:
    short, long_ = sorted((x, y), key=len)
    return len(short) >= 3 and len(long_) - len(short) >= 3 and (long_.endswith(short) or long_.startswith(short))


def compare_names(a: str, b: str) -> tuple[str, str] | None:
    """(level, rule) when two class names denote the same class, else None.

    Levels: 'exact' (string-equal), 'normalised' (equal after normalisation and stemming, or equal once spaces
    are removed: "Shotput" = "shot put"), 'near' (rules 'reordered', 'compound', 'subset').
    """
    if a == b:
        return "exact", "identical"
    ta, tb = name_tokens(a), name_tokens(b)
    if not ta or not tb:
        return None
    sa, sb = [s for _, s in ta], [s for _, s in tb]
    if sa == sb:
        return "normalised", "normalised"
    if "".join(sa) == "".join(sb) or "".join(w for w, _ in ta) == "".join(w for w, _ in tb):
        return "normalised", "spacing"
    if sorted(sa) == sorted(sb):
        return "near", "reordered"
    if len(ta) == len(tb):
        diff = [(x, y) for x, y in zip(ta, tb) if x[1] != y[1]]
        if len(diff) == 1:
            (wx, sx), (wy, sy) = diff[0]
            if _compound(wx, wy) or _compound(sx, sy):
                return "near", "compound"
    A, B = set(sa), set(sb)
    small, big = (A, B) if len(A) <= len(B) else (B, A)
    if len(small) >= 2 and small < big and len(big - small) <= 1:
        return "near", "subset"
    return None


_LEVEL_ORDER = {"exact": 0, "normalised": 1, "near": 2}


def class_overlap(source_names: Sequence[str], target_names: Sequence[str]) -> list[dict]:
    """For every target class that matches a source class: {target, level, rule, source: [names]} (best level)."""
    out = []
    for target in target_names:
        best: tuple[int, str, list[str]] | None = None
        for source in source_names:
            match = compare_names(target, source)
            if match is None:
                continue
            level, rule = match
            rank = _LEVEL_ORDER[level]
            if best is None or rank < best[0]:
                best = (rank, rule, [source])
            elif rank == best[0]:
                best[2].append(source)
        if best is not None:
            level = next(k for k, v in _LEVEL_ORDER.items() if v == best[0])
            out.append({"target": target, "level": level, "rule": best[1], "source": best[2]})
    return out


_HMDB_FLAGS = re.compile(r"_[fhul]_(?:cm|nm)_np\d+_(?:fr|ba|le|ri)_(?:goo|med|bad)_\d+(?:\.[A-Za-z0-9]+)?$")


_UCF = re.compile(r"(?:^|/)v_([A-Za-z0-9]+)_g\d+_c\d+(?:\.[A-Za-z0-9]+)?$")


class PathClassifier:
    """Finds the class a video path names (HMDB-51 file names, UCF-101 file names, class folders)."""

    def __init__(self, class_names: Sequence[str], mode: str = "auto"):
        self.mode = mode
        self.by_key = {name_key(n): n for n in class_names}
        # HMDB: class names as they appear in file names (underscored), longest first (draw_sword before sword)
        self.hmdb = sorted(
            ((re.sub(r"[^0-9a-z]+", "_", n.casefold()).strip("_"), n) for n in class_names),
            key=lambda item: -len(item[0]),
        )

    def __call__(self, path: str) -> str | None:
        modes = ("hmdb", "ucf", "folder") if self.mode == "auto" else (self.mode,)
        for mode in modes:
            found = getattr(self, f"_{mode}", lambda p: None)(path)
            if found is not None:
                return found
        return None

    def _hmdb(self, path: str) -> str | None:
        name = path.rsplit("/", 1)[-1]
        stem = _HMDB_FLAGS.sub("", name)
        if stem == name:
            return None
        stem = stem.casefold()
        for underscored, original in self.hmdb:
            if stem == underscored or stem.endswith("_" + underscored):
                return original
        return None

    def _ucf(self, path: str) -> str | None:
        match = _UCF.search(path)
        return self.by_key.get(match.group(1).casefold()) if match else None

    def _folder(self, path: str) -> str | None:
        parts = path.split("/")
        return self.by_key.get(name_key(parts[-2])) if len(parts) >= 2 else None

    def _none(self, path: str) -> None:
        return None


def class_from_path(path: str, class_names: Sequence[str], mode: str = "auto") -> str | None:
    """The class (one of ``class_names``) that a video path names, or None (mode: hmdb | ucf | folder | auto)."""
    return PathClassifier(class_names, mode)(path)
