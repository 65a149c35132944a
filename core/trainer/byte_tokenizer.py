"""The tiny model's byte tokens as a transformers tokenizer, so a merged export of it loads with
plain `AutoTokenizer.from_pretrained` and encodes text exactly as the trainer did.

A byte-level BPE with no merges: every UTF-8 byte is one token whose id is the byte's value, then
pad, bos and eos at 256, 257 and 258 (`core.trainer.tokenizer`).
"""

from __future__ import annotations

from typing import Any

from core.trainer.tokenizer import BYTE_BOS_ID, BYTE_EOS_ID, BYTE_PAD_ID

PAD, BOS, EOS = "<pad>", "<s>", "</s>"


def byte_tokenizer() -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    byte_chars = pre_tokenizers.ByteLevel.alphabet()  # the 256 printable stand-ins of GPT-2's bytes
    # ByteLevel maps byte b to bytes_to_unicode()[b]; recover that order to give byte b the id b.
    order = _bytes_to_unicode()
    assert set(order.values()) == set(byte_chars)
    vocab = {order[b]: b for b in range(256)}
    vocab.update({PAD: BYTE_PAD_ID, BOS: BYTE_BOS_ID, EOS: BYTE_EOS_ID})
    model = models.BPE(vocab=vocab, merges=[])
    tokenizer = Tokenizer(model)
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens([PAD, BOS, EOS])
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        clean_up_tokenization_spaces=False,
    )


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte → printable character table, which ByteLevel uses."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    chars = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return {b: chr(c) for b, c in zip(printable, chars, strict=True)}
