"""`python -m core.trainer SPEC.json`: train a LoRA adapter as the spec says, report in its folder.

`python -m core.trainer --standby`: import the heavy modules now, then wait for a job on stdin
(see core.trainer.standby).
"""

import os
import sys


def _run() -> int:
    os.umask(0o077)  # what the run writes (metrics, checkpoints, adapter) is private to the user
    if sys.argv[1:] == ["--standby"]:
        from core.trainer.standby import standby_main

        return standby_main()
    from core.trainer.run import main

    return main(sys.argv[1:])


sys.exit(_run())
