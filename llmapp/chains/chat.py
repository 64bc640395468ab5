"""The chat chain: a follow-up question is condensed into a standalone one, then answered by the QA chain;
each exchange is stored in the conversation's history.

Only a turn that refers back (a pronoun, an ellipsis: see `llmapp.chains.follow_up`) is condensed; a new
question is searched as asked. Condensing uses the generator with the `condense` prompt. A generator that is not
a language model (the extractive backend) cannot rewrite text, so a rule is used instead: the follow-up is
joined to the previous standalone question.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

from langchain_core.runnables import Runnable, RunnableConfig

from llmapp.chains.answer import Answer
from llmapp.chains.follow_up import refers_back
from llmapp.chains.history import ChatHistory, Turn
from llmapp.chains.qa import QAChain, QuestionInput
from llmapp.errors import ConfigError
from llmapp.generate.base import PassageAnswerer
from llmapp.language import detect_language

DEFAULT_CONVERSATION = "default"
HISTORY_TURNS = 6  # the last three exchanges are enough context to resolve a follow-up
TURN_CHARS = 400  # long answers are cut in the condense prompt: the question needs their gist only
CONDENSE_MAX_TOKENS = 64


def looks_like_follow_up(question: str) -> bool:
    """Questions that point back at something said before ("它的缺点呢？", "What about it?")."""
    return refers_back(question)


def condense_by_rule(question: str, history: list[Turn]) -> str:
    previous = [t.standalone or t.content for t in history if t.role == "user"]
    if not previous or not looks_like_follow_up(question):
        return question
    glue = "" if detect_language(question) == "zh" else " "
    return previous[-1].rstrip() + glue + question.strip()


class ChatChain(Runnable[str | QuestionInput, Answer]):
    """Input: `{"question": ..., "conversation_id": ...}` (or a bare question, in the "default" conversation)."""

    def __init__(self, qa: QAChain, history: ChatHistory, history_turns: int = HISTORY_TURNS) -> None:
        self.qa = qa
        self.history = history
        self.history_turns = history_turns

    def invoke(self, input: str | QuestionInput, config: RunnableConfig | None = None, **kwargs: Any) -> Answer:
        return self._call_with_config(self._final, input, config, run_type="chain")

    def stream(self, input: str | QuestionInput, config: RunnableConfig | None = None,
               **kwargs: Any | None) -> Iterator[Answer]:
        yield from self.run(*_unpack(input))

    def _final(self, input: str | QuestionInput) -> Answer:
        *_, final = self.run(*_unpack(input))
        return final

    def run(self, question: str, conversation: str = DEFAULT_CONVERSATION,
            filters: dict[str, Any] | None = None) -> Iterator[Answer]:
        """Partial answers, then the final one, which is stored in the history."""
        turns = self.history.turns(conversation, last=self.history_turns)
        standalone = self.condense(question, turns)
        final: Answer | None = None
        for answer in self.qa.run(question, filters=filters, search_query=standalone,
                                  language=detect_language(question)):
            if answer.final:
                final = answer
            yield answer
        if final is not None:
            cites = [asdict(c) for c in final.citations]
            self.history.add_exchange(conversation, question, standalone, final.text, cites)

    def condense(self, question: str, turns: list[Turn]) -> str:
        """The follow-up as a question that stands on its own (unchanged when there is no history or the
        question does not refer back)."""
        if not turns or not refers_back(question):
            return question
        generator = self.qa.generator
        if isinstance(generator, PassageAnswerer):
            return condense_by_rule(question, turns)
        template = self.qa.prompts.for_text("condense", question)
        shown = [{"role": t.role, "content": _clip(t.standalone or t.content if t.role == "user" else t.content)}
                 for t in turns]
        messages = template.render(question=question, history=shown)
        rewritten = generator.generate(messages, max_tokens=CONDENSE_MAX_TOKENS, temperature=0.0)
        return _first_line(rewritten) or condense_by_rule(question, turns)

    def reset(self, conversation: str = DEFAULT_CONVERSATION) -> int:
        return self.history.reset(conversation)


def _clip(text: str) -> str:
    return text if len(text) <= TURN_CHARS else text[:TURN_CHARS].rstrip() + "..."


def _first_line(text: str) -> str:
    """Small models add labels, quotes or a second line; keep the question itself."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    line = re.sub(r"^(complete question|standalone question|question|完整问题|问题)\s*[:：]\s*", "", lines[0],
                  flags=re.IGNORECASE)
    return line.strip().strip("\"'“”「」").strip()


def _unpack(input: str | QuestionInput) -> tuple[str, str, dict[str, Any] | None]:
    if isinstance(input, str):
        return input, DEFAULT_CONVERSATION, None
    if isinstance(input, dict) and isinstance(input.get("question"), str):
        return input["question"], input.get("conversation_id", DEFAULT_CONVERSATION), input.get("filters")
    raise ConfigError(f"the chat chain takes a question or {{'question': str, 'conversation_id': str}}, "
                      f"got {input!r}")
