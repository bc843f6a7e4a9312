"""``python -m sepplug.data.domains``: see :mod:`sepplug.data.domains.mixtures`."""

import sys

from sepplug.data.domains.mixtures import main

sys.exit(main())
