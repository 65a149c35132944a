"""The base model under the adapter: the built-in tiny one, a local folder, or a Hugging Face id.

`load_base_model(name)` is what the trainer, the playground and export share: the model and how to
encode text for it. A Hugging Face id is looked up in the Hub's cache first (`HF_HOME`), then
fetched (with `HF_TOKEN` for gated models) unless `HF_HUB_OFFLINE` is set; an id that cannot be had
fails in one line naming it and why, before any training starts.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

from core.trainer.spec import BaseModelSource, TrainerError, base_model_source
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


def build_tiny_model() -> LlamaForCausalLM:
    """The built-in base model: randomly initialised, identical on every call."""
    with torch.random.fork_rng(devices=[]):  # leave the caller's random state alone
        torch.manual_seed(TINY_MODEL_SEED)
        model = LlamaForCausalLM(LlamaConfig(**TINY_CONFIG))
    # peft records this in adapter_config.json as the base model the adapter belongs to.
    model.name_or_path = TINY_MODEL_NAME
    return model


# The built-in chat layout (core.trainer.tokenizer.built_in_chat) as a chat template, so the tiny
# model saved with its tokenizer chats the same way in any transformers tool.
TINY_CHAT_TEMPLATE = (
    "<s>{% for m in messages %}{{ '<|' + m['role'] + '|>\\n' + m['content'] }}"
    "{% if m['role'] == 'assistant' %}{{ '</s>' }}{% else %}{{ '\\n' }}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"
)


def tiny_tokenizer() -> Any:
    """The byte codec as a transformers tokenizer (core.trainer.byte_tokenizer) with the built-in
    chat layout as its template: what `save_pretrained` of the tiny model needs beside it to be a
    model folder like any other."""
    from core.trainer.byte_tokenizer import byte_tokenizer

    tokenizer = byte_tokenizer()
    tokenizer.chat_template = TINY_CHAT_TEMPLATE
    return tokenizer


def load_base_model(base_model: str | None, **loading: Any) -> tuple[Any, TextCodec]:
    """The model and how to encode text for it. `loading` goes to `from_pretrained` (dtype,
    quantization_config, …); the tiny model, built in code, takes none of it."""
    source = base_model_source(base_model)
    if source.kind == "tiny":
        return build_tiny_model(), byte_codec()
    model = _pretrained(AutoModelForCausalLM, source, loading)
    try:
        tokenizer = _pretrained(AutoTokenizer, source, {})
    except TrainerError:
        tokenizer = None  # weights without a tokenizer: bytes, if the vocabulary holds them
    if tokenizer is not None:
        return model, hf_codec(tokenizer)
    vocab = int(getattr(model.config, "vocab_size", 0))
    if vocab < BYTE_VOCAB_SIZE:
        raise TrainerError(
            f"{source.name} ships no tokenizer and its vocabulary ({vocab}) is too small for bytes"
        )
    return model, byte_codec()


def _pretrained(kind: Any, source: BaseModelSource, loading: dict[str, Any]) -> Any:
    """`kind.from_pretrained` of a folder (offline) or a Hub id (its cached copy first)."""
    if source.kind == "folder":
        try:
            return kind.from_pretrained(source.folder, local_files_only=True, **loading)
        except (OSError, ValueError) as exc:
            raise TrainerError(
                f"cannot load the base model from {source.folder}: {_first_line(exc)}"
            ) from None
    try:
        # The cached copy, without a network round trip per file: a job starts in a second.
        from huggingface_hub import snapshot_download

        folder = snapshot_download(source.name, local_files_only=True)
        loaded = kind.from_pretrained(folder, local_files_only=True, **loading)
    except (OSError, ValueError) as cached:
        if _offline():
            reason = f"not in the Hugging Face cache ({_hub_cache()}) and HF_HUB_OFFLINE is set"
            raise TrainerError(f"cannot load base model {source.name!r}: {reason}") from cached
        try:
            loaded = kind.from_pretrained(source.name, **loading)
        except (OSError, ValueError) as exc:
            raise TrainerError(f"cannot load base model {source.name!r}: {_hub_reason(exc)}") from None
    # Adapters record their base model by this name: the id, which reloads anywhere, not the folder.
    loaded.name_or_path = source.name
    if getattr(loaded, "config", None) is not None:
        loaded.config._name_or_path = source.name
    return loaded


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in ("1", "ON", "YES", "TRUE")


def _hub_cache() -> str:
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)


def _hub_reason(exc: BaseException) -> str:
    """Why the Hub would not give the model, in the user's words where it is a usual reason."""
    text = _first_line(exc)
    lowered = str(exc).lower()
    if "gated" in lowered or "401" in lowered or "403" in lowered:
        return f"access refused (a gated or private model needs HF_TOKEN): {text}"
    if "connect" in lowered or "resolve" in lowered or "offline" in lowered or "timed out" in lowered:
        return f"the Hugging Face Hub cannot be reached and the model is not cached ({_hub_cache()})"
    if "not a valid model identifier" in lowered or "404" in lowered or "repository not found" in lowered:
        return "no such model on the Hugging Face Hub (or it is private: set HF_TOKEN)"
    return text


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
