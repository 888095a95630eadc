"""The Ctrl-World backend (Guo et al. 2025) on diffusers' Stable Video Diffusion parts; needs `diffusers`."""
