"""`python -m scimlite` is the `scimlite` command."""

import sys

from scimlite.cli import main

sys.exit(main())
