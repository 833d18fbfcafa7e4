"""`python -m tracker` is the `redline` command."""

import sys

from tracker.cli import main

sys.exit(main())
