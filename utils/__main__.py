"""``python -m utils COMMAND``: the course's command line. It lives in :mod:`utils.tooling.cli`."""
import sys

from .tooling.cli import main

if __name__ == "__main__":
    sys.exit(main())
