"""Autoregressive and branching rollouts of a world model."""
