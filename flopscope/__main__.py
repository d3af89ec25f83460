"""``python -m flopscope`` runs the CLI."""

import sys

from flopscope.cli import main

sys.exit(main())
