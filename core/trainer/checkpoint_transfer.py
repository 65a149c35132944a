"""A run's checkpoints to and from storage, for a trainer on another machine (Ray).

The app presigns the URLs at submit (core.storage.s3): PUTs for this run's latest checkpoint (one
archive, then a record of its step) and, for a continued job, a GET of its parent's archive. A
thread sends each new checkpoint as the trainer saves it, so one survives a node that dies; the
run's end sends the last (the one saved on SIGTERM, say) before the process exits.

Standard library only, like the rest of the trainer's plumbing.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path

from core.trainer.checkpoint_files import ARCHIVE_NAME, latest_checkpoint, pack, unpack
from core.trainer.transfer import TransferError, download, upload

# Seconds between looks for a new checkpoint: its upload is what a node's death would lose.
LOOK_INTERVAL = 2.0


def fetch_checkpoint(url: str, output_dir: Path) -> Path:
    """Download and unpack the parent's checkpoint archive; the checkpoint folder."""
    output_dir.mkdir(parents=True, exist_ok=True)
    archive = download(url, output_dir / f"parent-{ARCHIVE_NAME}", what="the checkpoint")
    try:
        return unpack(archive, output_dir / "parent-checkpoint")
    except (OSError, ValueError) as exc:
        raise TransferError(f"cannot unpack the parent's checkpoint: {exc}") from None
    finally:
        archive.unlink(missing_ok=True)


class CheckpointUploader:
    """Sends the run's latest checkpoint whenever a newer one is complete, from a thread."""

    def __init__(
        self,
        output_dir: Path,
        urls: dict[str, str],
        log: Callable[[str], None],
        interval: float = LOOK_INTERVAL,
    ) -> None:
        self._output_dir = output_dir
        self._urls = urls
        self._log = log
        self._interval = interval
        self._sent: int | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()  # the thread and `finish` never upload at once
        self._thread = threading.Thread(target=self._watch, name="checkpoint-upload", daemon=True)

    def start(self) -> CheckpointUploader:
        self._thread.start()
        return self

    def finish(self) -> int | None:
        """Stop watching and send the latest checkpoint if it is not sent yet; its step."""
        self._stop.set()
        self._thread.join()
        self.send_latest()
        return self._sent

    def send_latest(self) -> None:
        with self._lock:
            found = latest_checkpoint(self._output_dir)
            if found is None or found[0] == self._sent:
                return
            step, folder = found
            archive = self._output_dir / f".{ARCHIVE_NAME}"
            record = self._output_dir / ".checkpoint.json"
            try:
                upload(pack(folder, archive), self._urls["archive"])
                record.write_text(json.dumps({"step": step}), encoding="utf-8")
                upload(record, self._urls["step"])  # second: a step that reads names a whole archive
            except (OSError, TransferError) as exc:
                # The trainer may be rotating checkpoints as it is packed: the next look retries.
                self._log(f"checkpoint at step {step} not uploaded: {exc}")
                return
            finally:
                archive.unlink(missing_ok=True)
                record.unlink(missing_ok=True)
            self._sent = step
            self._log(f"checkpoint at step {step} uploaded")

    def _watch(self) -> None:
        while not self._stop.wait(self._interval):
            self.send_latest()
