"""A package index on disk with tiny stand-ins for torch, transformers, peft, safetensors, accelerate.

The trainer setup runs the real pip against it (through pip's own environment variables), so a
whole setup takes seconds instead of installing gigabytes. Each stand-in is a real wheel; the
`torch` one answers what the setup's check asks of it (`torch.cuda.is_available()`).
"""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

import pytest

STUB_VERSIONS = {
    "torch": "2.13.0",
    "transformers": "4.56.0",
    "peft": "0.17.0",
    "safetensors": "0.4.0",
    "accelerate": "1.0.0",
}
_TORCH = "class cuda:\n    @staticmethod\n    def is_available():\n        return False\n"


def make_wheel(folder: Path, name: str, version: str, files: dict[str, str]) -> Path:
    """A pure-Python wheel `name-version` holding `files` (path in the wheel → text)."""
    dist_info = f"{name}-{version}.dist-info"
    contents = {
        **files,
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist_info}/WHEEL": "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    records = []
    for path, text in contents.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        records.append(f"{path},sha256={digest},{len(text.encode())}")
    records.append(f"{dist_info}/RECORD,,")
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in contents.items():
            archive.writestr(path, text)
        archive.writestr(f"{dist_info}/RECORD", "\n".join(records) + "\n")
    return wheel


def make_index(root: Path) -> Path:
    """A PEP 503 simple index of the stand-ins under `root`; returns the index folder."""
    files = root / "files"
    index = root / "simple"
    for name, version in STUB_VERSIONS.items():
        module = _TORCH if name == "torch" else ""
        wheel = make_wheel(
            files, name, version, {f"{name}/__init__.py": f"__version__ = {version!r}\n{module}"}
        )
        page = index / name / "index.html"
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text(f'<html><body><a href="../../files/{wheel.name}">{wheel.name}</a></body></html>\n')
    return index


def use_only(monkeypatch: pytest.MonkeyPatch, *, index_url: str, find_links: Path) -> None:
    """Point pip at `index_url` and `find_links` alone: none of this machine's pip configuration."""
    for name in ("PIP_EXTRA_INDEX_URL", "PIP_NO_INDEX", "PIP_CONSTRAINT", "PIP_REQUIRE_VIRTUALENV"):
        monkeypatch.delenv(name, raising=False)
    find_links.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("PIP_INDEX_URL", index_url)
    monkeypatch.setenv("PIP_FIND_LINKS", str(find_links))
    monkeypatch.setenv("PIP_RETRIES", "1")  # one retry (no back-off yet): pip says why it failed
    monkeypatch.setenv("PIP_TIMEOUT", "10")
