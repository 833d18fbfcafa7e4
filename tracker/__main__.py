"""`python -m tracker` is the `redline` command."""

import sys

from tracker.cli.main import main

sys.exit(main())
