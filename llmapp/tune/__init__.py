"""`llmapp kb tune KB`: tune a knowledge base's embedder on the knowledge base itself, promote it only when it
measurably helps. One concept per module, in the order the loop runs them:

    queries.py    pseudo-queries cut from the chunks (no labels, no network), or written by a generator
    negatives.py  hard negatives mined with the knowledge base's own hybrid search, false negatives guarded
    training.py   the `embedding` fine-tuning job (finetune) on the (query, positive, negative) triples
    gate.py       before/after nDCG@10 and recall@10 on held-out queries, with a paired bootstrap interval
    loop.py       the whole loop with per-phase times; promotion and rollback through ingest.store.reembed
"""
