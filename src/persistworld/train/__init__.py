"""Training: the shared train step, teacher-forced pretraining, logging and checkpoints."""
