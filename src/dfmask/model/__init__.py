"""U-YNet: model, training data, Lightning training and evaluation.

Modules: `uynet` (the network, its config, checkpoint loading — the stable API that
`dfmask.deploy` builds on), `data` (faces ⋈ masks ⋈ splits index, Dataset,
DataModule), `augment` (mask-aligned augmentations), `lightning` (loss, optimiser,
validation metrics), `train` (the train stage), `predict` (inference, video
aggregation), `segeval` (mask metrics, ground truth, counterfactual), `evaluate` (the
evaluate stage), `plots` (overlays, reliability), `seeds` (train+evaluate over seeds).
"""

from dfmask.model.uynet import UYNet, UYNetConfig, build_model, load_checkpoint, preprocess

__all__ = ["UYNet", "UYNetConfig", "build_model", "load_checkpoint", "preprocess"]
