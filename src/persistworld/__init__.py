"""persistworld: action-conditioned multi-view robot video world models that hold up over long rollouts.

The package implements the PersistWorld method (arXiv 2603.25685): data (DROID episodes and an
embedded robosuite simulator, all in the Ctrl-World on-disk layout), world models, autoregressive
and branching rollouts, perceptual rewards, RL post-training and evaluation.
"""

__version__ = "0.1.0"
