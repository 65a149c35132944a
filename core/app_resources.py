"""Where the app's shipped files are: icons, stylesheet, sample dataset, `.desktop` file.

The top-level `resources/` folder of a checkout is their source. A wheel carries a copy inside the
`core` package (`core/resources/`, see pyproject.toml), and the PyInstaller bundle one beside
`core` (build.spec), so the same lookup serves all three.
"""

from __future__ import annotations

import sys
from pathlib import Path

import core

_CORE = Path(__file__).resolve().parent


def resources_dir() -> Path:
    """The folder holding `icons/`, `style.qss` and `sample-dataset.jsonl`."""
    candidates = (
        _CORE.parent / "resources",  # a checkout (editable install) or the bundle's _internal/
        _CORE / "resources",  # an installed wheel
        Path(getattr(sys, "_MEIPASS", _CORE)) / "resources",  # a bundle laid out otherwise
    )
    for candidate in candidates:
        if (candidate / "icons").is_dir():
            return candidate
    return candidates[0]


def sample_dataset_file() -> Path:
    return resources_dir() / "sample-dataset.jsonl"


def app_version() -> str:
    """Loradesk's version, the same in a checkout, a wheel and the bundle."""
    return core.__version__
