"""``python -m noscope_cli``: the same as the ``noscope`` script."""

import sys

from noscope_cli.main import main

sys.exit(main())
