"""Ctrl-World's language conditioning: a frozen CLIP text tower whose embedding is added to every action token.

Ctrl-World (ctrl_world_reading.md, "Action + text conditioning") embeds the episode's instruction
with CLIP ViT-B/32's `text_embeds` (512-d, padded to 77 tokens, truncated), tiles it twice to the
1024-d token width and adds it to each frame's action token. The tower is frozen, so an embedding
depends only on its text and the tower's weights: `TextEmbedder` remembers each text's embedding,
and a rollout or an RL group (one instruction each) pays for the tower once.

Nothing is downloaded: the tokenizer comes from a local CLIP folder (`tokenizer` in the config) or,
for the random-weight presets, is built here from CLIP's byte-level alphabet alone (no merges: each
character is a token). The byte-level one tokenizes any text, but its ids mean nothing to real CLIP
weights, so loading real weights without their tokenizer is refused (`loading.py`).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import torch

from persistworld.errors import PersistWorldError
from persistworld.models.ctrl_world.frozen import weights_state

#: CLIP ViT-B/32's text tower (openai/clip-vit-base-patch32), the one Ctrl-World uses.
FULL_TEXT: dict[str, Any] = {
    "vocab_size": 49408,
    "hidden_size": 512,
    "intermediate_size": 2048,
    "num_hidden_layers": 12,
    "num_attention_heads": 8,
    "max_position_embeddings": 77,
    "projection_dim": 512,
    "hidden_act": "quick_gelu",
    "bos_token_id": 49406,
    "eos_token_id": 49407,
    "pad_token_id": 1,
}
#: ctrl_world_reading.md section 6, item 6: one layer of width 32, projected to 512 like the real one.
TINY_TEXT: dict[str, Any] = {
    **FULL_TEXT,
    "vocab_size": 514,
    "hidden_size": 32,
    "intermediate_size": 37,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "bos_token_id": 512,
    "eos_token_id": 513,
    "pad_token_id": 513,
}
MAX_TOKENS = 77


def _bytes_to_unicode() -> dict[int, str]:
    """CLIP's (and GPT-2's) reversible map of the 256 bytes to printable characters."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    codes, extra = list(printable), 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return dict(zip(printable, map(chr, codes), strict=True))


def byte_level_tokenizer():
    """A CLIP tokenizer over the 256 byte characters (+ their word-final forms), no merges: ids 0..513.

    The start and end tokens are ids 512 and 513, matching `TINY_TEXT`. Built from files (written to a
    temporary folder) because that is the constructor transformers 4 and 5 share.
    """
    from transformers import CLIPTokenizer

    characters = list(_bytes_to_unicode().values())
    vocab = {c: i for i, c in enumerate(characters)}
    vocab |= {c + "</w>": len(characters) + i for i, c in enumerate(characters)}
    vocab |= {"<|startoftext|>": len(vocab), "<|endoftext|>": len(vocab) + 1}
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "vocab.json").write_text(json.dumps(vocab))
        (Path(folder) / "merges.txt").write_text("#version: 0.2\n")
        return CLIPTokenizer(str(Path(folder) / "vocab.json"), str(Path(folder) / "merges.txt"),
                             model_max_length=MAX_TOKENS)  # fmt: skip


def load_tokenizer(folder: str | Path | None):
    """The CLIP tokenizer of a local folder, or the byte-level one when `folder` is None."""
    if folder is None:
        return byte_level_tokenizer()
    from transformers import CLIPTokenizer

    try:
        return CLIPTokenizer.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise PersistWorldError(
            f"{folder}: no CLIP tokenizer there (vocab.json + merges.txt, or tokenizer.json) ({exc})."
        ) from exc


def build_text_encoder(settings: dict[str, Any]) -> torch.nn.Module:
    """A frozen `CLIPTextModelWithProjection` with random weights (loaded later, if at all)."""
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    return CLIPTextModelWithProjection(CLIPTextConfig(**settings)).requires_grad_(False).eval()


class TextEmbedder:
    """Texts -> CLIP `text_embeds`, each text computed once per state of the tower's weights.

    Not an `nn.Module`: it holds no weights of its own (the tower is the model's `text_encoder`, so
    that its state-dict keys are Ctrl-World's), only the tokenizer and the cache.
    """

    def __init__(self, tokenizer: Any):
        self.tokenizer = tokenizer
        self._cache: dict[str, torch.Tensor] = {}
        self._weights_key: tuple = ()

    @torch.no_grad()
    def __call__(self, encoder: torch.nn.Module, texts: list[str]) -> torch.Tensor:
        """(B, projection_dim) embeddings of `texts` (the tower runs on the new ones only)."""
        key = weights_state(encoder)
        if key != self._weights_key:  # new weights (loaded, moved, cast): forget everything
            self._cache, self._weights_key = {}, key
        new = sorted({t for t in texts if t not in self._cache})
        if new:
            device = next(encoder.parameters()).device
            tokens = self.tokenizer(
                new, padding="max_length", truncation=True, max_length=MAX_TOKENS, return_tensors="pt"
            )
            embeds = encoder(input_ids=tokens.input_ids.to(device)).text_embeds
            self._cache |= dict(zip(new, embeds, strict=True))
        return torch.stack([self._cache[t] for t in texts])
