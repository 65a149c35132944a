"""How far a setup is, read from pip's own output.

The setup has three pip-free steps and two pip runs. The first run resolves (a dry run that
reports what it would install), so the second knows how many packages it fetches and installs:
its "Collecting" lines advance the bar package by package. pip's lines also go to the log.
"""

from __future__ import annotations

import re

# Percent of the bar where each step starts; the last one ends at 100.
STEPS = {
    "python": 0.0,
    "venv": 2.0,
    "resolve": 6.0,
    "fetch": 22.0,
    "install": 78.0,
    "verify": 93.0,
    "finish": 98.0,
}
# A package pip starts on: "Collecting NAME…" from an index, "Processing PATH" from a local file.
_COLLECTING = re.compile(
    r"^(?:Collecting (\S+?)(?:[=<>!~ @(]|$)|Processing (?:\S*[/\\])?([^/\\\s]+?)-\d[^/\\\s]*(?:\s|$))"
)
_FETCHING = re.compile(r"^\s*(Downloading|Using cached|Processing) ")


class SetupReporter:
    """Receives a setup's progress and log; the CLI prints it, the app shows it. Any thread."""

    def progress(self, percent: float, stage: str) -> None:
        """The bar moved to `percent` (0–100); `stage` says in words what happens now."""

    def log(self, line: str) -> None:
        """One line of the setup's log (pip's output among it)."""


class PipProgress:
    """Turns the lines of one pip run into bar positions between two steps.

    `expected` packages (known from the dry run) spread the fetch evenly; without it (the dry run
    itself) each package found moves the bar a shrinking amount towards the next step.
    """

    def __init__(self, reporter: SetupReporter, start: float, end: float, *, expected: int = 0) -> None:
        self.reporter = reporter
        self.start = start
        self.end = end
        self.expected = expected
        self.collected = 0
        self.install_from: float | None = None

    def feed(self, line: str) -> None:
        self.reporter.log(line)
        collecting = _COLLECTING.match(line)
        if collecting:
            self.collected += 1
            name = collecting.group(1) or collecting.group(2)
            if self.expected:
                share = min(self.collected, self.expected) / self.expected
                stage = f"Fetching {name} ({min(self.collected, self.expected)} of {self.expected})"
            else:
                share = self.collected / (self.collected + 12)
                stage = f"Resolving packages: {name} ({self.collected} found)"
            self.reporter.progress(self.start + (self.end - self.start) * share, stage)
        elif line.startswith("Installing collected packages:"):
            count = len(line.split(":", 1)[1].split(","))
            self.reporter.progress(STEPS["install"], f"Installing {count} packages (torch takes a while)")
        elif line.startswith("Successfully installed"):
            self.reporter.progress(STEPS["verify"], "Installed")
        elif _FETCHING.match(line) and self.expected:
            self.reporter.progress(
                self.start + (self.end - self.start) * min(self.collected, self.expected) / self.expected,
                f"{line.strip().split(' (')[0]}",
            )
