"""Image metrics and rewards, per view and per frame."""
