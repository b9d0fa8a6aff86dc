"""``run --checkpoint FILE`` with any format: the file is read once, an official one converted once, and every
later read of that path in this process (the preflight fit check, each unit's load) gets the converted state."""
from __future__ import annotations

from . import Checkpoint, needs_backbone_weights, to_harness_state

QUICK_GELU = "backbone.quick_gelu"


def official_activation(ckpt: Checkpoint | None, config: dict, options: list[str]) -> str | None:
    """Set QuickGELU for official weights; returns a note saying so. All four official codebases fine-tune
    OpenAI's CLIP, whose MLPs use QuickGELU; open_clip's plain ViT configs use GELU, and ``auto`` cannot tell
    from a checkpoint path. A ``backbone.quick_gelu`` the user gave wins."""
    if ckpt is None or ckpt.official_origin is None or any(o.startswith(QUICK_GELU + "=") for o in options):
        return None
    config["backbone"]["quick_gelu"] = True
    return (f"[note] {ckpt.path} holds official weights (fine-tuned OpenAI CLIP): QuickGELU activations "
            f"(--cfg-options {QUICK_GELU}=auto leaves the choice to open_clip)")


def state_for_run(method: str, config: dict, ckpt: Checkpoint, log) -> tuple[dict, dict]:
    """(state dict for the method's names, the record's ``checkpoint`` entry). A harness file is passed as it
    is (the preflight's strict load reports a mismatch); an official one is converted against a probe build."""
    from ...engine.preflight import probe_model, remember_converted

    if ckpt.kind == "harness":
        state = ckpt.sections[None]
    else:
        model = probe_model(method, config)
        state, report, _ = to_harness_state(ckpt, model, method)
        needs_backbone_weights(model, report, config["backbone"]["pretrained"])
        log(f"[ckpt] {report.line(method)}")
        remember_converted(ckpt.path, state)
    return state, ckpt.record()
