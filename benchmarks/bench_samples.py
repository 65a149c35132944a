"""Sample generation's share of a run's wall time at default settings (SPEC §8: under 10 %).

    python benchmarks/bench_samples.py [--runs N] [--max-new-tokens N]

The trainer runs as the `local` backend runs it (`python -m core.trainer SPEC.json`) on the
shipped sample dataset with the tiny model and every other setting at its default (4 validation
prompts, 128 new tokens, about ten evaluations), once with sample prompts off and once on, N times
each, alternating. Printed per mode: the process's wall time (median), and for the runs with
samples the trainer's own account from its log (seconds generating, evaluations sampled and
skipped, share of the run) beside the wall-time difference from the runs without. The machine's
load average is printed at start and end: the figures move with it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATASET = ROOT / "resources" / "sample-dataset.jsonl"
_ACCOUNT = re.compile(
    r"sample generation took (?P<seconds>[\d.]+) s over (?P<evaluations>\d+) evaluations"
    r"(?: \((?P<skipped>\d+) more skipped for time\))?,"
    r" (?P<share>[\d.]+) % of the training's (?P<run>[\d.]+) s"
)


def run_trainer(folder: Path, hyperparameters: dict[str, object]) -> tuple[float, dict[str, str] | None]:
    spec = folder / "spec.json"
    spec.write_text(
        json.dumps(
            {
                "job_id": folder.name,
                "dataset_url": str(DATASET),
                "output_dir": str(folder / "out"),
                "hyperparameters": {"base_model": "tiny", **hyperparameters},
            }
        ),
        encoding="utf-8",
    )
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "core.trainer", str(spec)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"the trainer failed: {done.stderr.strip().splitlines()[-1:]}")
    found = _ACCOUNT.search(done.stdout)
    return wall, found.groupdict() if found else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--max-new-tokens", type=int, default=None, help="default: the record's (128)")
    args = parser.parse_args()
    extra = {} if args.max_new_tokens is None else {"max_new_tokens": args.max_new_tokens}
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    walls: dict[str, list[float]] = {"off": [], "on": []}
    accounts = []
    with tempfile.TemporaryDirectory(prefix="loradesk-bench-samples-") as tmp:
        for run in range(args.runs):
            for mode in ("off", "on"):
                folder = Path(tmp) / f"{mode}-{run}"
                folder.mkdir()
                settings = {"sample_prompts": []} if mode == "off" else extra
                wall, account = run_trainer(folder, settings)
                walls[mode].append(wall)
                if mode == "on":
                    accounts.append(account)
                print(f"  run {run + 1} samples {mode:>3}: {wall:6.2f} s", flush=True)
    off, on = statistics.median(walls["off"]), statistics.median(walls["on"])
    print(f"wall time, median of {args.runs}: without samples {off:.2f} s, with samples {on:.2f} s")
    print(f"  difference: {on - off:+.2f} s ({100 * (on - off) / on:+.1f} % of the run with samples)")
    if not all(accounts):
        print("  the trainer logged no account of its sample generation (is the callback wired in?)")
    else:
        shares = [float(a["share"]) for a in accounts if a]
        seconds = [float(a["seconds"]) for a in accounts if a]
        of_run = 100 * statistics.median(seconds) / on
        sampled = [a["evaluations"] for a in accounts if a]
        skipped = [a["skipped"] or "0" for a in accounts if a]
        print(
            f"  the trainer's account: {statistics.median(seconds):.2f} s generating, {of_run:.1f} % of the "
            f"run's wall time (target < 10 %), {statistics.median(shares):.1f} % of the training time; "
            f"evaluations sampled {', '.join(sampled)}; skipped for time {', '.join(skipped)}"
        )
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
