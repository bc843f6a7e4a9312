"""``python -m sepplug.simulate.domains``: see :mod:`sepplug.simulate.domains.mixtures`."""

import sys

from sepplug.simulate.domains.mixtures import main

sys.exit(main())
