"""Knowledge bases in Milvus (`milvus://HOST:PORT/NAME`): the same contract as the local store, searched
server-side. Imported only for a Milvus URI; pymilvus is the `scale` extra (docs/scale.md)."""

from ingest.milvus.knowledge_base import MilvusKnowledgeBase
from ingest.milvus.uri import MilvusLocation, is_milvus_uri

__all__ = ["MilvusKnowledgeBase", "MilvusLocation", "is_milvus_uri"]
