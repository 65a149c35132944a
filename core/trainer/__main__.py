"""`python -m core.trainer SPEC.json`: train a LoRA adapter as the spec says, report in its folder."""

import sys

from core.trainer.run import main

sys.exit(main(sys.argv[1:]))
