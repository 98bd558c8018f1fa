"""`python -m notifhub_async`: the `notifhub` command."""

import sys

from ._cli import main

sys.exit(main())
