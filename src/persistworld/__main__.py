"""`python -m persistworld` (and `torchrun -m persistworld posttrain ...`): the command line."""

from persistworld.cli import main

main()
