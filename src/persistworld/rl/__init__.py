"""PersistWorld RL post-training: group advantages and the x0-space contrastive (DiffusionNFT) objective."""
