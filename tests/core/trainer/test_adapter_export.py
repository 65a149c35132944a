"""Exporting a real trained tiny adapter: the folder as it is, or merged into the base model so
plain transformers loads it and computes what base + adapter computes."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from core.adapters.export import export_adapter
from core.config import load_settings
from core.errors import InvalidRequestError
from tests.adapters import job_with_adapter, trained_adapter  # noqa: F401

pytestmark = pytest.mark.trainer


@pytest.fixture
def settings(home: Path):
    return load_settings(
        {"home": str(home), "user": "dana", "cluster": "local", "trainer_python": sys.executable}
    )


def test_a_merged_export_loads_in_plain_transformers_with_the_logits_of_base_and_adapter(
    settings,
    home: Path,
    tmp_path: Path,
    trained_adapter: Path,  # noqa: F811
):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from core.trainer.model import build_tiny_model
    from core.trainer.tokenizer import BYTE_BOS_ID, byte_codec

    job = job_with_adapter(home, trained_adapter)
    stages: list[str] = []
    result = export_adapter(
        settings,
        job,
        tmp_path / "merged",
        merge=True,
        progress=lambda done, total, stage: stages.append(stage),
    )

    assert {"config.json", "model.safetensors", "tokenizer.json"} <= set(result.files)
    assert "merging the adapter into the base model" in stages and stages[-1] == "exported"
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "merged").eval()
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "merged")
    text = "Spell 512 in words.\nfünf"  # non-ASCII: two bytes, two tokens
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert ids == byte_codec().encode(text)
    assert tokenizer.decode(ids) == text
    inputs = torch.tensor([[BYTE_BOS_ID, *ids]])
    with_adapter = PeftModel.from_pretrained(build_tiny_model(), str(trained_adapter)).eval()
    with torch.no_grad():
        expected = with_adapter(input_ids=inputs).logits
        got = merged(input_ids=inputs).logits
        base = build_tiny_model().eval()(input_ids=inputs).logits
    assert torch.allclose(got, expected, atol=1e-5)
    assert not torch.allclose(got, base, atol=1e-3)  # the adapter is in there
    assert (
        "AutoModelForCausalLM.from_pretrained" in result.snippet
        and str(tmp_path / "merged") in result.snippet
    )


def test_an_adapter_export_copies_the_folder_and_says_how_to_load_it(
    settings,
    home: Path,
    tmp_path: Path,
    trained_adapter: Path,  # noqa: F811
):
    job = job_with_adapter(home, trained_adapter)
    result = export_adapter(settings, job, tmp_path / "out")

    source = sorted(p.name for p in trained_adapter.iterdir())
    assert sorted(result.files) == source == sorted(p.name for p in (tmp_path / "out").iterdir())
    for name in source:
        assert (tmp_path / "out" / name).read_bytes() == (trained_adapter / name).read_bytes()
    # The snippet runs: it loads the adapter on the tiny base model with peft.
    scope: dict[str, object] = {}
    exec(result.snippet, scope)
    assert type(scope["model"]).__name__ == "PeftModelForCausalLM"


def test_an_export_never_writes_into_a_folder_that_has_files(
    settings,
    home: Path,
    tmp_path: Path,
    trained_adapter: Path,  # noqa: F811
):
    job = job_with_adapter(home, trained_adapter)
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(InvalidRequestError, match="already exists and is not an empty folder"):
        export_adapter(settings, job, taken, merge=True)
    assert [p.name for p in taken.iterdir()] == ["notes.txt"]
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # no half-written export
