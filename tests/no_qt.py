"""A pytest plugin that makes Qt unimportable, so a run of tests/core proves core needs no Qt.

Loaded first (`-p tests.no_qt`, with pytest-qt off), it puts a finder at the front of the import
system that refuses PySide6, shiboken6, pyqtgraph and qasync: any import of them, by core, by a
test or by a fixture, fails as it would in an environment where they are not installed. Cheaper
than a second virtual environment with the core dependencies only (seconds, not a full install),
and as strict: nothing can reach the installed copies past the finder.
"""

from __future__ import annotations

import importlib.abc
import sys
from collections.abc import Sequence
from types import ModuleType

QT = ("PySide6", "shiboken6", "pyqtgraph", "qasync")


class NoQt(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None) -> None:
        if fullname.split(".")[0] in QT:
            raise ModuleNotFoundError(f"No module named {fullname!r} (tests/no_qt.py: core runs without Qt)")
        return None


already = sorted(name for name in sys.modules if name.split(".")[0] in QT)
if already:
    raise RuntimeError(f"Qt was imported before tests/no_qt.py could block it: {already}")
sys.meta_path.insert(0, NoQt())
