"""Batch-level augmentations of the official X-CLIP / ViFi-CLIP training code (``datasets/blending.py``),
shared by both methods."""
from __future__ import annotations

import torch


def smoothed_one_hot(labels: torch.Tensor, num_classes: int, smoothing: float) -> torch.Tensor:
    """X-CLIP's one-hot with smoothing: off = s / C, on = 1 − s + s / C."""
    off = smoothing / num_classes
    targets = torch.full((labels.shape[0], num_classes), off, device=labels.device)
    return targets.scatter_(1, labels.view(-1, 1), 1.0 - smoothing + off)


def cutmix_mixup(videos: torch.Tensor, targets: torch.Tensor, mixup_alpha: float = 0.8, cutmix_alpha: float = 1.0,
                 switch_prob: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    """X-CLIP / ViFi-CLIP ``CutmixMixupBlending.do_blending`` on (B, T, 3, H, W) videos and (B, C) soft targets.

    With probability ``switch_prob`` CutMix (one box, the same for every frame; λ corrected to the box area),
    otherwise Mixup; the partner of each sample is a random permutation of the batch. Returns new tensors.
    """
    batch = videos.shape[0]
    permutation = torch.randperm(batch, device=videos.device)
    if torch.rand(()).item() < switch_prob:
        lam = torch.distributions.Beta(cutmix_alpha, cutmix_alpha).sample().item()
        height, width = videos.shape[-2:]
        cut = (1.0 - lam) ** 0.5
        cut_w, cut_h = int(width * cut), int(height * cut)
        cx, cy = int(torch.randint(width, ())), int(torch.randint(height, ()))
        x1, x2 = max(cx - cut_w // 2, 0), min(cx + cut_w // 2, width)
        y1, y2 = max(cy - cut_h // 2, 0), min(cy + cut_h // 2, height)
        videos = videos.clone()
        videos[..., y1:y2, x1:x2] = videos[permutation][..., y1:y2, x1:x2]
        lam = 1.0 - (x2 - x1) * (y2 - y1) / float(width * height)
    else:
        lam = torch.distributions.Beta(mixup_alpha, mixup_alpha).sample().item()
        videos = lam * videos + (1.0 - lam) * videos[permutation]
    return videos, lam * targets + (1.0 - lam) * targets[permutation]
