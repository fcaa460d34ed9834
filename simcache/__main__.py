"""``python -m simcache`` runs the command line."""

import sys

from simcache.cli import main

sys.exit(main())
