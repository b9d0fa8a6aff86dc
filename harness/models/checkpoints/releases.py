"""The checkpoints each method's authors released, and how they evaluated them (from the official READMEs and
test code), so ``python -m harness reproduce`` evaluates a released file the way its authors did.

Kept as data, like :mod:`harness.reports.published`: a release names its backbone, frames, protocol, the datasets it
was evaluated on (as harness dataset definitions: EZ-CLIP evaluated on its own split and description files),
the views (clips × crops), the text, where the authors host it, and which rows of ``harness.reports.published`` it is
to be compared with. Nothing here is downloaded; the addresses are for people, on machines with network.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ...errors import HarnessError

#: harness dataset name → the key harness.reports.published uses for it
PUBLISHED_KEY = {"kinetics400": "k400", "kinetics600": "k600", "hmdb51": "hmdb51", "ucf101": "ucf101", "ssv2": "ssv2"}

_EZ = "Shahzadnit/EZ-CLIP:README.md (Model Zoo)"
_EZ_TEST = "EZ-CLIP test.py: 1 clip × 1 centre crop, 8 frames at segment centres"
_XC = "microsoft/VideoX:X-CLIP/README.md (Model Zoo)"
_XC_HOST = "GitHub release assets of nbl97/X-CLIP_Model_Zoo (v1.0)"
_XC_URL = "https://github.com/nbl97/X-CLIP_Model_Zoo/releases/download/v1.0/"
_VF = "muzairkhattak/ViFi-CLIP:README.md (Model Zoo)"
_VF_HOST = "OneDrive (mbzuaiac-my.sharepoint.com, the ViFi-CLIP authors')"
_VF_URL = "https://mbzuaiac-my.sharepoint.com/:u:/g/personal/uzair_khattak_mbzuai_ac_ae/"
_VF_VIEWS = "ViFi-CLIP configs: TEST.NUM_CLIP 1 × TEST.NUM_CROP 1 (MULTI_VIEW_INFERENCE only for fully supervised)"
_AC = "sallymmx/ActionCLIP:README.md (Pretrained Models)"
_GPT = dict(source="descriptions", templates=["{}"])
_NAMES = dict(source="names", templates=["{}"])
_PHOTO = dict(source="names", templates=["a photo of a {}."])


@dataclass(frozen=True)
class Release:
    key: str
    method: str
    title: str
    backbone: str                      # open_clip architecture (harness --backbone)
    frames: int
    protocol: str | None               # harness protocol; None: a setting the harness has no protocol for
    datasets: dict                     # dataset name a user gives → harness dataset definition evaluated
    url: str
    host: str
    readme: str
    views: tuple[int, int] = (1, 1)    # clips, crops
    views_source: str = ""
    text: dict = field(default_factory=dict)
    text_source: str = ""
    shots: int | None = None
    seed: int | None = None
    published_method: str | None = None  # the harness.reports.published method name it is compared with
    note: str = ""

    def label(self) -> str:
        extra = f", K={self.shots}" if self.shots else (f", seed {self.seed}" if self.seed else "")
        return f"{self.title}{extra}"


def _b2n_ez(dataset: str, definition: str, file_id: str) -> Release:
    return Release(f"ezclip-b2n-{dataset}", "ezclip", f"EZ-CLIP ViT-B/16 8×224 base-to-novel {dataset}", "ViT-B-16", 8,
                   "base2novel", {dataset: definition, definition: definition},
                   f"https://drive.google.com/file/d/{file_id}", "Google Drive (EZ-CLIP authors)", _EZ,
                   views_source=_EZ_TEST, text=_GPT, text_source="one GPT-3 description per class (data.use_llm)",
                   published_method="ezclip", note="one checkpoint (the README states no seeds); published B/N are "
                   "the authors' numbers for it")


def _vifi(protocol: str, dataset: str, number: int, file_id: str) -> Release:
    """A ViFi-CLIP fine-tuning release: base-to-novel (``number`` = seed) or few-shot (``number`` = K)."""
    b2n = protocol == "base2novel"
    return Release(f"vificlip-{'b2n' if b2n else 'fs'}-{dataset}-{'s' if b2n else ''}{number}", "vificlip",
                   f"ViFi-CLIP ViT-B/16 32×224 {'base-to-novel' if b2n else 'few-shot'} {dataset}", "ViT-B-16", 32,
                   protocol, {dataset: dataset}, _VF_URL + file_id, _VF_HOST, _VF, seed=number if b2n else None,
                   shots=None if b2n else number, views_source=_VF_VIEWS, text=_PHOTO,
                   text_source='"a photo of a {}." (CTX_INIT + name + ".")', published_method="vificlip",
                   note="published B/N are means over the seed 1-3 checkpoints: pass all three (--checkpoint s1 "
                   "--checkpoint s2 --checkpoint s3) to compare like with like" if b2n else "")


def _actionclip(backbone: str, frames: int, baidu: str, note: str) -> Release:
    """An ActionCLIP Kinetics-400 model, evaluated zero-shot as its configs/{hmdb51,ucf101}/*_zero_shot.yaml do."""
    arch = backbone.removeprefix("ViT-").replace("-", "/")
    return Release(f"actionclip-k400-{arch.replace('/', '').lower()}-{frames}f", "actionclip",
                   f"ActionCLIP ViT-{arch} {frames}f trained on Kinetics-400", backbone, frames, "zero_shot",
                   {"hmdb51": "hmdb51", "ucf101": "ucf101"}, f"https://pan.baidu.com/s/{baidu}",
                   "Baidu Netdisk (ActionCLIP authors)", _AC,
                   views_source="ActionCLIP test.py: single crop (1 clip × 1 centre crop)", text=dict(source="names"),
                   text_source="the 16 ActionCLIP templates, softmax averaged (utils/Text_Prompt.py)",
                   published_method="actionclip", note=note)


def _fs_xclip(dataset: str, short: str, shots: int) -> Release:
    return Release(f"xclip-fs-{dataset}-{shots}", "xclip", f"X-CLIP ViT-B/16 32×224 few-shot {dataset}", "ViT-B-16", 32,
                   "few_shot", {dataset: dataset}, f"{_XC_URL}few_{short}_{shots}.pth", _XC_HOST, _XC, shots=shots,
                   views=(4, 3), views_source="X-CLIP main.py: after training it always re-tests with TEST.NUM_CLIP 4 "
                   "× TEST.NUM_CROP 3 (the reported number, as the shipped logs end with it)",
                   text=_NAMES, text_source='the class name ("{}", utils/tools.py generate_text)',
                   published_method="xclip")


RELEASES: tuple[Release, ...] = (
    # ------------------------------------------------------------------------------------------- EZ-CLIP
    Release("ezclip-zs-k400", "ezclip", "EZ-CLIP ViT-B/16 8×224 trained on Kinetics-400 (zero-shot)", "ViT-B-16", 8,
            "zero_shot", {"hmdb51": "hmdb51-ezclip", "ucf101": "ucf101-ezclip", "kinetics600": "kinetics600-ezclip",
                          "hmdb51-ezclip": "hmdb51-ezclip", "ucf101-ezclip": "ucf101-ezclip",
                          "kinetics600-ezclip": "kinetics600-ezclip"},
            "https://drive.google.com/file/d/19QNGgaZjPyq0yz7XJGFccS7MV09KMY_K", "Google Drive (EZ-CLIP authors)", _EZ,
            views_source=_EZ_TEST, text=_GPT, text_source="one GPT-3 description per class (data.use_llm)",
            published_method="ezclip", note="EZ-CLIP's own files: HMDB/UCF split-1 test only, K-600 = its 232-class "
            "set (methods.md §3.1); the README does not say these are the files behind its numbers"),
    _b2n_ez("kinetics400", "kinetics400-ezclip", "1q8rBkL0QKNTeJJihWkNUwm1eAGH_OY0U"),
    _b2n_ez("hmdb51", "hmdb51-ezclip", "1hW2i6agAhpyFvoRgPcOki3coQHx-6oWN"),
    _b2n_ez("ucf101", "ucf101-ezclip", "16HTxwbqfi1N8BPVjfrvL6F_A4xLNt-zc"),
    _b2n_ez("ssv2", "ssv2-ezclip", "1EtpET-s634JnHK7n57vrvqNpE7qH_dHq"),
    # -------------------------------------------------------------------------------------------- X-CLIP
    Release("xclip-zs-k400", "xclip", "X-CLIP ViT-B/16 32×224 trained on Kinetics-400 (zero-shot)", "ViT-B-16", 32,
            "zero_shot", {"hmdb51": "hmdb51", "ucf101": "ucf101", "kinetics600": "kinetics600"},
            _XC_URL + "zero.pth", _XC_HOST, _XC,
            views_source="X-CLIP main.py --only_test with the default TEST.NUM_CLIP 1 × TEST.NUM_CROP 1 (no zero-shot "
            "config in the repo; the release log zero.txt is the authority)", text=_NAMES,
            text_source='the class name ("{}")', published_method="xclip",
            note="published: mean over the 3 splits (X-CLIP README); ±std from the FROSTER README"),
    *(_fs_xclip(dataset, short, k) for dataset, short in (("hmdb51", "hmdb"), ("ucf101", "ucf")) for k in (2, 4, 8, 16)),
    Release("xclip-k400-fully-supervised", "xclip", "X-CLIP B/32 8f·16f, B/16 8f·16f, L/14 8f·16f@336 (Kinetics-400); "
            "B/16 8f·16f, L/14 8f (Kinetics-600)", "ViT-B-16", 8, None, {}, _XC_URL + "k400_16_8.pth", _XC_HOST + "; "
            "L/14 on Google Drive", _XC, note="fully supervised: the harness has no such protocol (convert and run "
            "--checkpoint load them; nothing to reproduce against harness.reports.published)"),
    # ---------------------------------------------------------------------------------------- ViFi-CLIP
    Release("vificlip-zs-k400", "vificlip", "ViFi-CLIP ViT-B/16 32×224 trained on Kinetics-400 (zero-shot)",
            "ViT-B-16", 32, "zero_shot", {"hmdb51": "hmdb51", "ucf101": "ucf101", "kinetics600": "kinetics600"},
            _VF_URL + "EW0shb6XYDxFi3BH6DT70rgBPDwgW_knQ8jDsarxINXezw?e=RbixXc", _VF_HOST, _VF,
            views_source=_VF_VIEWS + "; configs/zero_shot/eval/*", text=_PHOTO, text_source='"a photo of a {}."',
            published_method="vificlip", note="published: mean over the 3 splits; CLIP image-FT / text-FT "
            "(model.variant image|text) are released too, with no row in harness.reports.published"),
    _vifi("base2novel", "kinetics400", 1, "EVEyFxODEvtFt6FVpuIQvNQBgi5bfxce_nqgzqsjuxB48g?e=rOAu0o"),
    _vifi("base2novel", "kinetics400", 2, "EcCHHh5FvnlPnlQTHLUk2v0Bv6MMTWHpkluBiQ1MdbZWFA?e=d3NkTX"),
    _vifi("base2novel", "kinetics400", 3, "ETG_gS_l-E1Ai6BkPq8WlzgB8L5PDYDoVrgzia9832j3wg?e=rfJzPs"),
    _vifi("base2novel", "hmdb51", 1, "ETbI3yeoedBNqvAf3oz-faIBeGDy862_Tx_ZQT1soM6hZQ?e=2Y5Vxg"),
    _vifi("base2novel", "hmdb51", 2, "EZ-JcyYOVthCu2pU4ou-AWgBHzMYzWsSKC7eL4KBU3xyLg?e=0bj1ed"),
    _vifi("base2novel", "hmdb51", 3, "EeUfaRWGtEpPn9hVrpb8pCsBJGAMrGZgXLKOOzNNY1DGqA?e=6B7dJy"),
    _vifi("base2novel", "ucf101", 1, "EXwqEdOLKSdIpY6AfTSbRMQB0UqZdTKiaWjw-2gf8Ctcyw?e=h2MvBZ"),
    _vifi("base2novel", "ucf101", 2, "EdOmRlCM4zZJpr-Z497OfB4B5YK8qTiApht1StA7xJ3ClA?e=9zYxfS"),
    _vifi("base2novel", "ucf101", 3, "EdgjBDJ0iXtMpdkNqOE5otcBgWgbfrrQBG1W0wICrD9qiA?e=x7VXl2"),
    _vifi("base2novel", "ssv2", 1, "Ee9-LsJzAeROj0rsXZ_Kq2gBWfDTJX9yI3NhsP3Wx9XT7g?e=QTh28B"),
    _vifi("base2novel", "ssv2", 2, "ETWroKKSa3VJmktA1qGcrUIBSWdSK8JaclCD7GpxXWMMRw?e=bNM8PS"),
    _vifi("base2novel", "ssv2", 3, "Efl1L1g_OdJHvLu24Yzh3w4BMrTcdll8DilX13lB6rXaFw?e=lLvOiJ"),
    _vifi("few_shot", "hmdb51", 2, "EZfPCFy69GlLms0xE9hacYsBMRDZolyy5-5kh7urW6U5Hg?e=PRR4dj"),
    _vifi("few_shot", "hmdb51", 4, "EYSoKhu-CEdFtDIPDB-9mcYBTocR1z6S4pB2prm8M3y86w?e=MgiPpY"),
    _vifi("few_shot", "hmdb51", 8, "EXLoRgDpJERKnxWf6GGGqzoBy-jbAuO-IcV4QSWmtT2mBg?e=piTDRc"),
    _vifi("few_shot", "hmdb51", 16, "EdA4jgYynRBHrhy1ftn-s9gBFRFYCPdaD5y9AQBClaziWg?e=x2tHpP"),
    _vifi("few_shot", "ucf101", 2, "ERaxz4xkUBdGkGCKopmsctgBWj0aoxf4eNWRFIQPtZja6A?e=FzpFnl"),
    _vifi("few_shot", "ucf101", 4, "ETa1Ym63eYtDt9Fzlq_5YuEBcNCPlUPbD12zhc4YGusGyg?e=Z1Si0j"),
    _vifi("few_shot", "ucf101", 8, "EaHr57kr7GBGno5v6Qb7sLUBERvoInzco0yfbO81davqWQ?e=V2Odqn"),
    _vifi("few_shot", "ucf101", 16, "ERGWnUJHBiVJluMvaUrbDPcB3iIGXAet0W-AfwDJy1bL2w?e=0fSQJb"),
    _vifi("few_shot", "ssv2", 2, "EfmVXJyo9VxHheDrVrm7b88BJ_MXRyI_dhuI9pWMUpfPww?e=JPmnt2"),
    _vifi("few_shot", "ssv2", 4, "ET1MeS3-C_NLpg-rAJMnf0cBruk16K56NDCwySFwse1tsQ?e=1fV3k2"),
    _vifi("few_shot", "ssv2", 8, "EWp7ERV-Dn9GiiTgKWyjDyMBUVoLXyPdHcBpAPah3XvZmw?e=r5Xmii"),
    _vifi("few_shot", "ssv2", 16, "EZJB66ssj_VBhZB6e59wI9oB1qHGKujTAhoSKyqvnpEzDw?e=Vdjp5n"),
    Release("vificlip-vl-prompting", "vificlip", "ViFi-CLIP 'bridge and prompt' (VL prompting) base-to-novel and "
            "few-shot", "ViT-B-16", 32, None, {}, _VF_URL, _VF_HOST, _VF,
            note="learned vision/language prompts: not implemented by the harness (convert refuses them by name)"),
    # --------------------------------------------------------------------------------------- ActionCLIP
    _actionclip("ViT-B-32", 8, "1Ok8HG4lb3kePKbtBExJo2g (password 8hg2)", "the authors publish no zero-shot numbers "
                "for it (configs/hmdb51/hmdb_ft_zero_shot.yaml evaluates it so); the harness.reports.published "
                "actionclip rows are X-CLIP's re-implementation (UNVERIFIED) — a reference, not this checkpoint's claim"),
    _actionclip("ViT-B-16", 32, "1t3wROD0rLHQkxB2yD7TTkA (password v7nn)", "as for the B/32 model: no zero-shot "
                "number by its authors; the B/16 8f/16f and HMDB/UCF fine-tuned models are listed in the README "
                "without links"),
)


def releases(method: str | None = None) -> list[Release]:
    return [r for r in RELEASES if method is None or r.method == method]


def find_releases(method: str, dataset: str, protocol: str | None = None, shots: int | None = None,
                  seed: int | None = None) -> list[Release]:
    """Releases of ``method`` evaluated on ``dataset`` (under ``protocol`` / with ``shots`` / ``seed`` when given)."""
    return [r for r in RELEASES if r.method == method and r.protocol and dataset in r.datasets
            and (protocol is None or r.protocol == protocol) and (shots is None or r.shots == shots)
            and (seed is None or r.seed in (None, seed))]


def choose_release(method: str, dataset: str, protocol: str | None, shots: int | None,
                   seed: int | None = None, backbone: str | None = None) -> Release:
    """The one release a reproduction means; none or several is one line naming the flag that decides."""
    found = find_releases(method, dataset, protocol, shots, seed)
    if backbone is not None and len({r.backbone for r in found}) > 1:
        found = [r for r in found if r.backbone == backbone] or found
    if not found:
        by_protocol: dict = {}
        for r in releases(method):
            if r.protocol:
                by_protocol.setdefault(r.protocol, {}).update(dict.fromkeys(k for k in r.datasets if "-" not in k))
        where = "; ".join(f"{p}: {', '.join(names)}" for p, names in sorted(by_protocol.items()))
        raise HarnessError(f"no released {method} checkpoint is evaluated on {dataset!r}"
                           f"{' under ' + protocol if protocol else ''}{f' with K={shots}' if shots else ''}; "
                           f"{method}'s releases: {where or 'none the harness can evaluate'} (README: released "
                           "checkpoints)")
    if len({r.protocol for r in found}) > 1:
        raise HarnessError(f"{method} has released checkpoints for {dataset} under "
                           f"{' and '.join(sorted({r.protocol for r in found}))}; say which with --protocol")
    if len({r.shots for r in found}) > 1:
        raise HarnessError(f"{method} has few-shot checkpoints for {dataset} at K = "
                           f"{', '.join(str(r.shots) for r in found)}; say which with --shots")
    if len({r.backbone for r in found}) > 1:
        raise HarnessError(f"{method} has released checkpoints for {dataset} on "
                           f"{' and '.join(r.backbone for r in found)}; say which with --backbone")
    return found[0]


# ------------------------------------------------------------------------------------------------ README
_FILES = {"ezclip": "EZ-CLIP/", "xclip": "ViFi-CLIP/", "vificlip": "ViFi-CLIP/", "actionclip": "ViFi-CLIP/"}


def _file_name(release: Release, seed: int | None = None) -> str:
    if release.url.startswith(_XC_URL):
        return release.url.rsplit("/", 1)[-1]
    return f"{release.key.rsplit('-s', 1)[0] if seed else release.key}{f'-s{seed}' if seed else ''}.pth"


def reproduce_command(release: Release, dataset: str, seeds: tuple[int, ...] = ()) -> str:
    """The one command that reproduces the published row of ``release`` on ``dataset``."""
    checkpoints = " ".join(f"--checkpoint {_file_name(release, s)}" for s in seeds) if seeds else \
        f"--checkpoint {_file_name(release)}"
    parts = [f"python -m harness reproduce --method {release.method} --protocol {release.protocol} --dataset {dataset}",
             f"--shots {release.shots}" if release.shots else "", checkpoints,
             "--pretrained ViT-B-16.pt" if release.method == "vificlip" else "",
             f"--backbone {release.backbone}" if len({r.backbone for r in find_releases(
                 release.method, dataset, release.protocol, release.shots)}) > 1 else "",
             f"--data-root VIDEOS/ --files-root {_FILES[release.method]}"]
    return " ".join(p for p in parts if p)


def readme_table() -> str:
    """The README's table of released checkpoints and reproducing commands (tests/test_convert.py checks the
    README holds exactly this)."""
    lines = ["| method | released checkpoint | backbone × frames | protocol · dataset | views · text | hosted at "
             "(README) | the command that reproduces the published row |", "|---|---|---|---|---|---|---|"]
    done = set()
    for release in RELEASES:
        clips, crops = release.views
        views = f"{clips}×{crops} · {release.text_source.split(' (')[0]}" if release.protocol else "—"
        url, _, extra = release.url.partition(" ")
        where = f"[{release.host}]({url}){' ' + extra if extra else ''}"
        if release.protocol is None:
            lines.append(f"| {release.method} | {release.title} | {release.backbone} × {release.frames} | — "
                         f"({release.note.split(':')[0]}) | — | {where} | — |")
            continue
        for dataset in (d for d in release.datasets if "-" not in d):
            group = (release.method, release.protocol, dataset, release.shots, release.backbone)
            if group in done:
                continue
            done.add(group)
            seeds = tuple(r.seed for r in find_releases(release.method, dataset, release.protocol, release.shots)
                          if r.seed)
            command = reproduce_command(release, dataset, seeds)
            title = release.label() if not seeds else f"{release.title}, seeds {', '.join(map(str, seeds))}"
            lines.append(f"| {release.method} | {title} | {release.backbone} × {release.frames} | "
                         f"{release.protocol} · {dataset} | {views} | {where} | `{command}` |")
    return "\n".join(lines)
