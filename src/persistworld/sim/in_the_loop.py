"""The simulator's scripted task policy, driving a world model rollout (the policy-in-the-loop example).

`persistworld.rollout.engine.rollout(..., policy=...)` asks a policy for the next F actions at every
step. `ScriptedSimPolicy` answers by running the simulator's scripted controller for F frames and
returning the end-effector states it reached, normalised like the dataset. A scripted policy acts on
the simulator's privileged state, so it ignores the predicted views it is given; a learned policy
would read them. Two things make it useful beyond an example:

- With ``policy_seed=None`` it reproduces the recorded episode of the same seed exactly, so a policy
  rollout must equal a replay of the recorded actions (tested).
- With a ``policy_seed`` it makes a new attempt at the task in the same scene, a trajectory that no
  dataset episode holds, and the simulator renders what really happens: `true_frames` is ground
  truth for the counterfactual rollout, which a real robot dataset can never give.
"""

from __future__ import annotations

import numpy as np
import torch

from persistworld.data.stats import StateStats
from persistworld.sim.generate import ScriptedEpisode, SimConfig, new_scene


class ScriptedSimPolicy:
    """One simulated episode per rollout row, advanced F frames per call.

    Args:
        config: The simulator config the episodes were generated with (scene, noise, length).
        episode_seeds: Seed (= episode id) of each rollout row, in row order.
        stats: Normalisation of the world model (the stats its checkpoint carries).
        num_future: F, frames per rollout step.
        policy_seed: None to replay each episode's own plan; an int for a new attempt in the same scene.

    The rollout must start at frame 0 of each episode (its ground-truth context is the start frame).
    """

    def __init__(
        self,
        config: SimConfig,
        episode_seeds: list[int],
        stats: StateStats,
        num_future: int,
        policy_seed: int | None = None,
    ):
        self.stats, self.num_future = stats, num_future
        self.episodes = [
            ScriptedEpisode(new_scene(config, config.task_of(seed)), config, seed, policy_seed)
            for seed in episode_seeds
        ]

    def __call__(self, views: torch.Tensor, step: int) -> torch.Tensor:
        """The next F normalised states of every row, (B, F, 7); `views` (B, V, 3, H, W) is not used."""
        if views.shape[0] != len(self.episodes):
            raise ValueError(
                f"the policy drives {len(self.episodes)} episodes but the rollout has {views.shape[0]} rows "
                "(use one candidate per episode)."
            )
        proposed = []
        for episode in self.episodes:
            episode.advance(self.num_future)
            states = np.stack(episode.states[-self.num_future :]).astype(np.float32)  # as the data layer reads them
            proposed.append(self.stats.normalize(states))
        return torch.from_numpy(np.stack(proposed))

    def true_frames(self) -> list[np.ndarray]:
        """What the simulator rendered for each row so far, (T, V, H, W, 3) uint8 at the scene's image size."""
        return [np.stack(episode.frames) for episode in self.episodes]

    def close(self) -> None:
        """Release the simulator scenes."""
        for episode in self.episodes:
            episode.scene.close()
