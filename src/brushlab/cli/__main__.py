"""``python -m brushlab.cli``: the ``brushlab`` command without its entry-point script."""

import sys

from brushlab.cli._main import main

sys.exit(main())
