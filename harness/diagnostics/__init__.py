"""Temporal diagnostics computed from finished runs (records + checkpoints): frame-order views, the two motion-loss
terms on frame embeddings, EZ-CLIP's temporal-prompt attention, and the backbone axis. Each analysis writes its
own diagnostic record under ``<records>/diagnostics/<kind>/`` so ``tables`` rebuilds its tables from records."""
