"""``python -m dramatiq``: the worker command (see dramatiq.cli)."""

import sys

from dramatiq.cli import main

if __name__ == "__main__":
    sys.exit(main())
