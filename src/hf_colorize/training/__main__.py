"""``python -m hf_colorize.training`` (or ``accelerate launch -m hf_colorize.training``): the trainer's command line,
the same as a clone's ``examples/train.py``."""

import sys

from . import main

sys.exit(main())
