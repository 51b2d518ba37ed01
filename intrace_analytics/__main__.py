"""``python -m intrace_analytics`` runs the command line."""

import sys

from intrace_analytics.cli import main

if __name__ == "__main__":
    sys.exit(main())
