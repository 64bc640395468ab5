"""Chains: question answering over a knowledge base (`QAChain`) and chat with history (`ChatChain`).

Both are LangChain `Runnable`s (invoke / stream / batch) and take any retriever with
`search(query, k, filters) -> list[Hit]` and any `llmapp.generate` generator.
"""

from llmapp.chains.answer import Answer, Citation, Timings
from llmapp.chains.chat import ChatChain, condense_by_rule, looks_like_follow_up
from llmapp.chains.citations import check_citations
from llmapp.chains.history import ChatHistory, Turn
from llmapp.chains.packing import Passage, pack
from llmapp.chains.qa import QAChain, QuestionInput, SupportsSearch

__all__ = [
    "Answer",
    "ChatChain",
    "ChatHistory",
    "Citation",
    "Passage",
    "QAChain",
    "QuestionInput",
    "SupportsSearch",
    "Timings",
    "Turn",
    "check_citations",
    "condense_by_rule",
    "looks_like_follow_up",
    "pack",
]
