"""`python -m core.trainer SPEC.json`: train a LoRA adapter as the spec says, report in its folder.

`python -m core.trainer --standby`: import the heavy modules now, then wait for a job on stdin
(see core.trainer.standby).
"""

import sys

if sys.argv[1:] == ["--standby"]:
    from core.trainer.standby import standby_main

    sys.exit(standby_main())

from core.trainer.run import main

sys.exit(main(sys.argv[1:]))
