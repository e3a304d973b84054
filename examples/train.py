"""Train or fine-tune an hf_colorize model: ``accelerate launch examples/train.py --help``."""

import sys

import hf_colorize  # noqa: F401  (registers the families)
from hf_colorize.training import main

if __name__ == "__main__":
    sys.exit(main())
