"""`python -m loradesk`: the same as the `loradesk` console script."""

import sys

from loradesk.main import main

sys.exit(main())
