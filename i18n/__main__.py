"""``python -m i18n extract | compile | check`` (see :mod:`i18n.catalog`)."""

import sys

from .catalog import main

sys.exit(main())
