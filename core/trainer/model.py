"""The base model under the adapter: the built-in tiny one, or a local model folder."""

from __future__ import annotations

from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

from core.trainer.spec import TrainerError, base_model_folder
from core.trainer.tokenizer import (
    BYTE_BOS_ID,
    BYTE_EOS_ID,
    BYTE_PAD_ID,
    BYTE_VOCAB_SIZE,
    TextCodec,
    byte_codec,
    hf_codec,
)

# The tiny model's weights come from this seed, not the job's: every run, and anyone reloading
# an adapter later, gets the same base model, without a weights file.
TINY_MODEL_SEED = 1234
TINY_MODEL_NAME = "loradesk-tiny"
# Llama layout with byte-level vocabulary, about 2.7 M parameters: big enough to learn a simple
# task visibly within a few dozen steps, small enough for about ten steps a second on one core.
TINY_CONFIG: dict[str, Any] = {
    "vocab_size": BYTE_VOCAB_SIZE,
    "hidden_size": 256,
    "intermediate_size": 512,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "num_key_value_heads": 4,
    "max_position_embeddings": 2048,
    "pad_token_id": BYTE_PAD_ID,
    "bos_token_id": BYTE_BOS_ID,
    "eos_token_id": BYTE_EOS_ID,
    "tie_word_embeddings": True,
}
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json")


def build_tiny_model() -> LlamaForCausalLM:
    """The built-in base model: randomly initialised, identical on every call."""
    with torch.random.fork_rng(devices=[]):  # leave the caller's random state alone
        torch.manual_seed(TINY_MODEL_SEED)
        model = LlamaForCausalLM(LlamaConfig(**TINY_CONFIG))
    # peft records this in adapter_config.json as the base model the adapter belongs to.
    model.name_or_path = TINY_MODEL_NAME
    return model


def load_base_model(base_model: str | None) -> tuple[Any, TextCodec]:
    """The model and how to encode text for it."""
    folder = base_model_folder(base_model)
    if folder is None:
        return build_tiny_model(), byte_codec()
    try:
        model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise TrainerError(f"cannot load the base model from {folder}: {_first_line(exc)}") from None
    if any((folder / name).is_file() for name in _TOKENIZER_FILES):
        codec = hf_codec(AutoTokenizer.from_pretrained(folder, local_files_only=True))
    else:
        codec = byte_codec()
        vocab = int(getattr(model.config, "vocab_size", 0))
        if vocab < BYTE_VOCAB_SIZE:
            raise TrainerError(
                f"{folder} ships no tokenizer and its vocabulary ({vocab}) is too small for bytes"
            )
    return model, codec


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
