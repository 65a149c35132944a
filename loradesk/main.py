"""The entry points of the console scripts `loradesk` and `loradesk-gui` (and of the bundle).

The command line runs every command; its `gui` command (the default) is handed the function that
opens the desktop app, which imports Qt only when it is called.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from core.cli.main import main as cli_main
from core.config import Settings


def open_desktop(settings: Settings, *, screenshot: Path | None, job_id: str | None) -> int:
    from desktop.app import run_gui  # Qt and the app load only for the `gui` command

    return run_gui(settings, screenshot=screenshot, job_id=job_id)


def main(argv: Sequence[str] | None = None) -> int:
    """`loradesk [COMMAND] …`"""
    return cli_main(argv, open_gui=open_desktop)


def gui_main(argv: Sequence[str] | None = None) -> int:
    """`loradesk-gui [options]`: the `gui` command, for desktop launchers."""
    return main(["gui", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
