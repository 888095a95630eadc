"""The state of a frozen module's weights, as a cache key.

The backend caches what its frozen parts compute (the VAE's conditioning latents, the CLIP tower's
text embeddings). A cached value is valid while the weights are the same tensors, unmodified: the
key holds each parameter's storage address and version counter, which loading (`load_state_dict`
copies in place), moving, casting or an optimizer step all change.
"""

from __future__ import annotations

import torch


def weights_state(module: torch.nn.Module) -> tuple[tuple[int, int], ...]:
    """(storage address, version) of every parameter of `module`."""
    return tuple((p.data_ptr(), p._version) for p in module.parameters())
