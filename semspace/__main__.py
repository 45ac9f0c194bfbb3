"""``python -m semspace``: the same as the ``semspace`` command."""

import sys

from semspace.cli import main

sys.exit(main())
