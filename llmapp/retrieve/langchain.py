"""A LangChain `BaseRetriever` over any llmapp `Retriever` (hits become Documents with their provenance)."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict


class LangChainRetriever(BaseRetriever):
    """`LangChainRetriever(retriever=open_retriever(...), k=5).invoke("question")`."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    retriever: Any  # llmapp.retrieve.Retriever
    k: int = 5
    filters: dict[str, Any] | None = None

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun
                                ) -> list[Document]:
        hits = self.retriever.search(query, k=self.k, filters=self.filters)
        return [Document(page_content=h.text, metadata=_provenance(h.to_dict())) for h in hits]


def _provenance(hit: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in hit.items() if key != "text"}
