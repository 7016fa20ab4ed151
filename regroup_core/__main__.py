"""``python -m regroup_core``: see :mod:`regroup_core.cli`."""

import sys

from .cli import main

sys.exit(main())
