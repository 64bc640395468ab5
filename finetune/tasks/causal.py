"""`causal`: supervised fine-tuning of a GPT/Llama-style model on chat data, loss on the answer tokens only.

Rows are `messages` ([{role, content}, ...] ending with the assistant), `prompt`/`response`, or alpaca
`instruction`/`input`/`output`; all become messages rendered with the tokenizer's chat template. The template is
saved with the tokenizer and as `chat_template.jinja`, so inference renders prompts exactly as training did.

Masking: the conversation is rendered turn by turn; text the template adds before an assistant turn (the
generation prompt) and all user/system text get label -100; the assistant's content and its end-of-turn token
are learnt. Each segment is tokenised on its own, which is also how inference sees a prompt.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from finetune import rundir, runs
from finetune.config import DataConfig, Job
from finetune.data import BadRow, length_stats, text
from finetune.equivalence import check_merge
from finetune.errors import DataError, ModelLoadError
from finetune.lora import count_parameters, peft_config
from finetune.models import refuse_quantized
from finetune.tasks.base import FeatureDataset, Prepared

logger = logging.getLogger(__name__)

Messages = list[dict[str, str]]
IGNORE = -100
ROLES = ("system", "user", "assistant")
# Used only when the base tokenizer has no chat template; it ends each turn with the tokenizer's EOS so that
# generation stops where the training answers stopped.
FALLBACK_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + eos_token"
    " + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def _as_messages(value: Any) -> Messages:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise BadRow("messages is a string but not a JSON list") from None
    if not isinstance(value, list) or not value:
        raise BadRow("messages must be a non-empty list of {role, content}")
    messages = []
    for turn in value:
        if not isinstance(turn, dict) or turn.get("role") not in ROLES or not isinstance(turn.get("content"), str):
            raise BadRow(f"each message needs role in {ROLES} and text content")
        messages.append({"role": turn["role"], "content": turn["content"]})
    if messages[-1]["role"] != "assistant" or not any(m["role"] == "user" for m in messages):
        raise BadRow("a conversation needs a user turn and must end with the assistant's answer")
    return messages


def row_messages(row: dict[str, Any], data: DataConfig) -> Messages:
    """messages, prompt/response or alpaca instruction/input/output -> a chat."""
    if row.get(data.messages_column) is not None:
        messages = _as_messages(row[data.messages_column])
    elif data.prompt_column in row or data.response_column in row:
        prompt = text(row.get(data.prompt_column), data.prompt_column)
        answer = text(row.get(data.response_column), data.response_column)
        messages = [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]
    elif "instruction" in row or "output" in row:
        instruction = text(row.get("instruction"), "instruction")
        extra = str(row.get("input") or "").strip()
        prompt = f"{instruction}\n\n{extra}" if extra else instruction
        messages = [
            {"role": "user", "content": prompt},
            {"role": "assistant", "content": text(row.get("output"), "output")},
        ]
    else:
        raise BadRow(
            f"no '{data.messages_column}', '{data.prompt_column}'/'{data.response_column}' or "
            "alpaca 'instruction'/'output' fields"
        )
    if data.system_prompt and messages[0]["role"] != "system":
        messages.insert(0, {"role": "system", "content": data.system_prompt})
    return messages


def load_tokenizer(path: Path) -> Any:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    if not tokenizer.chat_template:
        logger.warning(
            "%s has no chat template; using a ChatML template ending turns with %s", path, tokenizer.eos_token
        )
        tokenizer.chat_template = FALLBACK_TEMPLATE
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _render(tokenizer: Any, messages: Messages, generation_prompt: bool) -> str:
    rendered = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)
    return str(rendered)


def encode(tokenizer: Any, messages: Messages) -> tuple[list[int], list[int]]:
    """(input_ids, labels) for one conversation; labels are -100 except on assistant turns."""
    ids: list[int] = []
    labels: list[int] = []
    done = ""
    for i, turn in enumerate(messages):
        if turn["role"] != "assistant":
            continue
        prompt = _render(tokenizer, messages[:i], True)
        full = _render(tokenizer, messages[: i + 1], False)
        if not (prompt.startswith(done) and full.startswith(prompt)):
            raise DataError(
                "the chat template does not render conversations as growing prefixes; loss masking "
                "needs that (use a ChatML-style template)"
            )
        for segment, learnt in ((prompt[len(done) :], False), (full[len(prompt) :], True)):
            piece = tokenizer(segment, add_special_tokens=False)["input_ids"]
            ids.extend(piece)
            labels.extend(piece if learnt else [IGNORE] * len(piece))
        done = full
    return ids, labels


def prompt_ids(tokenizer: Any, messages: Messages) -> list[int]:
    """The tokens a generation starts from: the conversation before its last answer, with the generation prompt."""
    return list(tokenizer(_render(tokenizer, messages[:-1], True), add_special_tokens=False)["input_ids"])


def featurize(tokenizer: Any, chats: list[Messages], max_length: int) -> tuple[list[dict[str, Any]], list[int], int]:
    """Truncated features, untruncated lengths, and how many examples lost every answer token to truncation."""
    features, lengths, dropped = [], [], 0
    for messages in chats:
        ids, labels = encode(tokenizer, messages)
        lengths.append(len(ids))
        ids, labels = ids[:max_length], labels[:max_length]
        if all(label == IGNORE for label in labels):
            dropped += 1
            continue
        features.append({"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels})
    return features, lengths, dropped


class CausalTask:
    name = "causal"

    def parser(self, data: DataConfig, labels: list[str] | None = None) -> Callable[[dict[str, Any]], Messages]:
        return lambda row: row_messages(row, data)

    def labels(self, data: DataConfig, train: list[Messages]) -> list[str] | None:
        return None

    def prepare(self, job: Job, base: Path, train: list[Messages], validation: list[Messages]) -> Prepared:
        from transformers import AutoModelForCausalLM, DataCollatorForSeq2Seq

        tokenizer = load_tokenizer(base)
        model = AutoModelForCausalLM.from_pretrained(base)
        refuse_quantized(model)
        if job.lora is not None:
            from peft import get_peft_model

            model = get_peft_model(model, peft_config(job.lora, model.config, "CAUSAL_LM"))
        trainable, total = count_parameters(model)
        splits, lengths = [], {}
        for name, chats in (("train", train), ("validation", validation)):
            features, raw, dropped = featurize(tokenizer, chats, job.train.max_length)
            if not features:
                raise DataError(
                    f"every {name} conversation loses its answer at max_length={job.train.max_length}; "
                    "raise train.max_length"
                )
            splits.append(FeatureDataset(features))
            lengths[name] = {**length_stats(raw, job.train.max_length), "answer_fully_truncated": dropped}
        collator = DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=IGNORE, padding=True)
        return Prepared(
            model=model,
            tokenizer=tokenizer,
            train=splits[0],
            validation=splits[1],
            collator=collator,
            metric="loss",
            greater_is_better=False,
            lengths=lengths,
            probe=[m[:-1] for m in validation[:4]],
            extra={"trainable": trainable, "total": total, "eval_before": True},
        )

    def save(self, prepared: Prepared, model: Any, run_dir: Path) -> None:
        model.save_pretrained(run_dir / (rundir.ADAPTER if hasattr(model, "peft_config") else rundir.MODEL))
        prepared.tokenizer.save_pretrained(run_dir / rundir.TOKENIZER)
        (run_dir / rundir.CHAT_TEMPLATE).write_text(prepared.tokenizer.chat_template, encoding="utf-8")

    def load(self, run_dir: Path) -> CausalRun:
        return CausalRun(run_dir)


def load_causal(run_dir: Path, merged: bool = False) -> tuple[Any, Any]:
    """(model, tokenizer) of a causal run: base + adapter (or the full fine-tune), in eval mode."""
    from transformers import AutoModelForCausalLM

    return runs.load_model(run_dir, AutoModelForCausalLM, merged), runs.load_tokenizer(run_dir)


class CausalRun:
    """A trained chat model: answer-token loss/perplexity, sample generations, merged export."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.model, self.tokenizer = load_causal(run_dir)
        manifest = runs.RunManifest.read(run_dir)
        self.max_length = int(manifest.train_setting("max_length"))
        self.max_new_tokens = int(manifest.train_setting("max_new_tokens"))

    def generate(self, messages: Messages, max_new_tokens: int | None = None) -> str:
        """Greedy answer to a conversation (messages up to the user's last turn)."""
        import torch

        ids = torch.tensor(
            [list(self.tokenizer(_render(self.tokenizer, messages, True), add_special_tokens=False)["input_ids"])]
        )
        with torch.no_grad():
            out = self.model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                do_sample=False,
                max_new_tokens=max_new_tokens or self.max_new_tokens,
                pad_token_id=self.tokenizer.pad_token_id,
            )
        return str(self.tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)).strip()

    def loss(self, chats: list[Messages]) -> float:
        """Mean cross-entropy over answer tokens (each token counted once across the set)."""
        import torch

        total, count = 0.0, 0
        features, _, _ = featurize(self.tokenizer, chats, self.max_length)
        for feature in features:
            ids = torch.tensor([feature["input_ids"]])
            labels = torch.tensor([feature["labels"]])
            with torch.no_grad():
                logits = self.model(input_ids=ids).logits[0, :-1].float()
            target = labels[0, 1:]
            mask = target != IGNORE
            total += float(torch.nn.functional.cross_entropy(logits[mask], target[mask], reduction="sum"))
            count += int(mask.sum())
        return total / max(count, 1)

    def evaluate(self, records: list[Messages]) -> dict[str, Any]:
        loss = self.loss(records)
        samples = [
            {"prompt": m[-2]["content"], "reference": m[-1]["content"], "generated": self.generate(m[:-1])}
            for m in records[:3]
        ]
        return {
            "loss": loss,
            "perplexity": math.exp(min(loss, 50.0)),
            "count": len(records),
            "samples": samples,
        }

    def probe_logits(self, model: Any, probe: list[Messages]) -> Any:
        import torch

        rows = []
        for messages in probe:
            ids = torch.tensor(
                [list(self.tokenizer(_render(self.tokenizer, messages, True), add_special_tokens=False)["input_ids"])]
            )
            with torch.no_grad():
                rows.append(model(input_ids=ids).logits[0, -1].float())
        return torch.stack(rows)

    def export(self, out: Path, probe: list[Messages]) -> dict[str, Any]:
        from transformers import AutoModelForCausalLM

        if not hasattr(self.model, "peft_config"):
            raise ModelLoadError(f"{self.run_dir} is a full fine-tune: its model/ folder is already merged")
        adapter_out = self.probe_logits(self.model, probe)
        with self.model.disable_adapter():
            base_out = self.probe_logits(self.model, probe)
        merged, _ = load_causal(self.run_dir, merged=True)
        merged.save_pretrained(out)
        self.tokenizer.save_pretrained(out)
        reloaded = AutoModelForCausalLM.from_pretrained(out).eval()
        return check_merge(adapter_out, self.probe_logits(reloaded, probe), base_out)


TASK = CausalTask()
