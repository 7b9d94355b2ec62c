"""``python -m imgcloud`` is the ``imgcloud`` command."""

from __future__ import annotations

import sys

from imgcloud.cli import main

sys.exit(main())
