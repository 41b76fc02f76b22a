"""`python -m alertbot` = the `alertbot` command."""

import sys

from .cli import main

sys.exit(main())
