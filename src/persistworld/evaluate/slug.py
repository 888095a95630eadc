"""File-name-safe forms of model names (for per-model video folders)."""

from __future__ import annotations


def slug(name: str) -> str:
    """Lower-case letters, digits, '-' and '_'; anything else becomes '_' (e.g. "ground truth" -> "ground_truth")."""
    cleaned = "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "_" for c in name.strip().lower())
    return cleaned.strip("_") or "model"
