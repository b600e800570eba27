"""``python -m fiftyone_videogem``: see :mod:`fiftyone_videogem.cli`."""

import sys

from .cli import main

sys.exit(main())
