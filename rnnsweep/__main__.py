"""``python -m rnnsweep ...`` is the ``rnnsweep`` command."""

import sys

from .cli import main

sys.exit(main())
