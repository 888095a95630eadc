"""Evaluation of world models on held-out rollouts: metrics per step and camera group, paired statistics, report."""
