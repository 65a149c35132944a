"""The playground process (`python -m core.trainer.playground`) through its client, on a real
trained tiny adapter: both answers, what each one is, stop, bad requests, and the end."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from core.adapters.playground_client import (
    Decoding,
    Exited,
    Failed,
    Finished,
    PlaygroundProcess,
    Ready,
    SideDone,
    Token,
    answer_once,
)
from tests.adapters import TASK_PROMPT, trained_adapter  # noqa: F401

pytestmark = pytest.mark.trainer
GREEDY = Decoding(temperature=0, max_new_tokens=40)


@pytest.fixture
def playground(trained_adapter: Path) -> Iterator[PlaygroundProcess]:  # noqa: F811
    process = PlaygroundProcess(sys.executable, trained_adapter, "tiny")
    yield process
    process.close()


def wait_ready(events: Iterator[object]) -> Ready:
    for event in events:
        assert not isinstance(event, Failed | Exited), event
        if isinstance(event, Ready):
            return event
    raise AssertionError("no ready event")


def reference_answer(adapter: Path | None, prompt: str, max_new_tokens: int) -> str:
    """Greedy decoding by transformers' own `generate`, on the base model or base + adapter."""
    import torch
    from peft import PeftModel

    from core.trainer.model import build_tiny_model
    from core.trainer.tokenizer import BYTE_BOS_ID, BYTE_EOS_ID, decode_bytes

    model = build_tiny_model()
    if adapter is not None:
        model = PeftModel.from_pretrained(model, str(adapter))
    ids = torch.tensor([[BYTE_BOS_ID, *prompt.encode()]])
    with torch.no_grad():
        out = model.eval().generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            do_sample=False,
            max_new_tokens=max_new_tokens,
            eos_token_id=BYTE_EOS_ID,
            pad_token_id=BYTE_EOS_ID,
        )
    return decode_bytes(out[0, ids.shape[1] :].tolist())


def test_base_and_adapter_answers_are_those_of_the_base_model_and_of_the_adapter(
    playground: PlaygroundProcess,
    trained_adapter: Path,  # noqa: F811
):
    answers = answer_once(playground, TASK_PROMPT, GREEDY)

    assert "hundred" in answers.adapter  # the adapter learned the sample's task...
    assert answers.base != answers.adapter  # ...which the base model cannot do
    assert answers.adapter == reference_answer(trained_adapter, TASK_PROMPT, GREEDY.max_new_tokens)
    assert answers.base == reference_answer(None, TASK_PROMPT, GREEDY.max_new_tokens)


def test_answers_stream_in_turn_and_the_same_seed_gives_the_same_answers(playground: PlaygroundProcess):
    events = playground.events()
    ready = wait_ready(events)
    assert (ready.base_model, ready.device, ready.chat_template) == ("tiny", "cpu", False)

    def answer(decoding: Decoding) -> tuple[list[str], dict[str, str]]:
        ident = playground.ask("Spell 7 in words.\n", decoding)
        order, texts = [], {"base": "", "adapter": ""}
        for event in events:
            if isinstance(event, Token):
                order.append(event.side)
                texts[event.side] += event.text
            if isinstance(event, Finished) and event.request == ident:
                return order, texts
        raise AssertionError("no end")

    # Both panes fill at once: tokens (single bytes here) alternate between the two sides.
    order, _ = answer(GREEDY)
    assert order[:6] == ["base", "adapter"] * 3
    sampled = Decoding(temperature=0.9, top_p=0.95, max_new_tokens=30, seed=11)
    assert answer(sampled)[1] == answer(sampled)[1]
    assert answer(sampled)[1] != answer(Decoding(temperature=0.9, top_p=0.95, max_new_tokens=30, seed=12))[1]


def test_stop_ends_both_answers_and_the_playground_answers_again(playground: PlaygroundProcess):
    events = playground.events()
    wait_ready(events)
    # Greedy on the untrained base model loops without ever choosing end-of-text.
    long = Decoding(temperature=0, max_new_tokens=4096)
    ident = playground.ask("Tell me a long story.", long)
    done: dict[str, SideDone] = {}
    asked_to_stop = False
    for event in events:
        if isinstance(event, Token) and not asked_to_stop:
            playground.stop()  # as soon as the answer is under way
            asked_to_stop = True
        elif isinstance(event, SideDone):
            done[event.side] = event
        elif isinstance(event, Finished):
            assert event.request == ident
            break
    assert done["base"].stopped and done["base"].tokens < long.max_new_tokens

    again = playground.ask(TASK_PROMPT, GREEDY)
    for event in events:
        if isinstance(event, Finished):
            assert event.request == again
            break


def test_a_bad_request_is_refused_in_a_line_and_the_next_one_answered(playground: PlaygroundProcess):
    events = playground.events()
    wait_ready(events)
    bad = playground.ask("hello", Decoding(temperature=-1))
    refused = next(event for event in events if isinstance(event, Failed))
    assert refused.request == bad and "temperature must be a number from 0.0 to 5.0" in refused.message

    good = playground.ask("hello", GREEDY)
    assert any(isinstance(e, Finished) and e.request == good for e in events)


def test_end_of_input_ends_the_process(playground: PlaygroundProcess):
    events = playground.events()
    wait_ready(events)
    pid = playground.pid
    playground.close()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert [e for e in events if isinstance(e, Exited)] == [Exited(0)]


def test_a_folder_without_an_adapter_fails_in_one_line(tmp_path: Path):
    with PlaygroundProcess(sys.executable, tmp_path, "tiny") as playground:
        events = list(playground.events())
    assert events[0] == Failed(f"{tmp_path} holds no adapter (adapter_config.json is missing)")
    assert events[-1] == Exited(1)


CHAT_TEMPLATE = (
    "{% for m in messages %}{{ '<|' + m['role'] + '|>\\n' + m['content'] + '\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"
)


def test_a_chat_prompt_to_the_tiny_model_takes_the_built_in_layout_chat_datasets_train_with(
    playground: PlaygroundProcess,
    trained_adapter: Path,  # noqa: F811
):
    import torch
    from peft import PeftModel

    from core.trainer.model import build_tiny_model
    from core.trainer.tokenizer import BYTE_BOS_ID, BYTE_EOS_ID, decode_bytes

    answers = answer_once(playground, "Hi", Decoding(temperature=0, max_new_tokens=12, chat_template=True))

    model = PeftModel.from_pretrained(build_tiny_model(), str(trained_adapter)).eval()
    inputs = torch.tensor([[BYTE_BOS_ID, *b"<|user|>\nHi\n<|assistant|>\n"]])
    with torch.no_grad():
        out = model.generate(
            input_ids=inputs,
            attention_mask=torch.ones_like(inputs),
            do_sample=False,
            max_new_tokens=12,
            eos_token_id=BYTE_EOS_ID,
            pad_token_id=BYTE_EOS_ID,
        )
    assert answers.adapter == decode_bytes(out[0, inputs.shape[1] :].tolist())
    assert (
        answers.adapter != answer_once(playground, "Hi", Decoding(temperature=0, max_new_tokens=12)).adapter
    )


def test_a_folder_model_with_a_chat_template_answers_through_it(tmp_path: Path):
    """A base model given as a folder (weights and a tokenizer with a chat template) and an
    adapter on it: the toggle is offered, and the prompt goes through the template."""
    import torch
    from peft import LoraConfig, PeftModel, get_peft_model

    from core.trainer.model import build_tiny_model, tiny_tokenizer

    base_folder, adapter = tmp_path / "base", tmp_path / "adapter"
    build_tiny_model().save_pretrained(base_folder)
    tokenizer = tiny_tokenizer()
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(base_folder)
    config = LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    torch.manual_seed(0)
    get_peft_model(build_tiny_model(), config).save_pretrained(adapter)

    with PlaygroundProcess(sys.executable, adapter, str(base_folder)) as playground:
        assert wait_ready(playground.events()).chat_template
        chat = Decoding(temperature=0, max_new_tokens=12, chat_template=True)
        answers = answer_once(playground, "Hi", chat)

    model = PeftModel.from_pretrained(build_tiny_model(), str(adapter)).eval()
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Hi"}], add_generation_prompt=True, tokenize=False
    )
    assert text == "<|user|>\nHi\n<|assistant|>\n"
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    inputs = torch.tensor([ids])
    with torch.no_grad():
        out = model.generate(
            input_ids=inputs, attention_mask=torch.ones_like(inputs), do_sample=False, max_new_tokens=12
        )
    assert answers.adapter == tokenizer.decode(out[0, inputs.shape[1] :], skip_special_tokens=True)
