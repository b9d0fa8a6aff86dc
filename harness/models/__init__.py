"""Models: open_clip backbones, the method registry, video preprocessing, the embedded toy CLIP, profiling, the
feature cache, training-time augmentation, and checkpoints in the harness's and the authors' formats."""
