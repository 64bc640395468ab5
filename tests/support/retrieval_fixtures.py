"""Small knowledge bases built through the real ingest pipeline, shared by the retrieval tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ingest.embed import Embedder, HashEmbedder
from ingest.pipeline import IngestOptions, ingest

DOCS = {
    "guide/install.md": "# Install\n\nInstall llmapp with pip. The wheel needs Python 3.10 or newer.\n",
    "guide/search.md": "# Search\n\nHybrid search fuses BM25 and dense vectors into one ranked list.\n",
    "notes/cats.txt": "Cats sleep most of the day and hunt at dusk.\n",
    "notes/zh.txt": "熊猫主要以竹子为食，生活在四川的山区。\n\n长城是中国古代的军事防御工程。\n",
    "notes/copy.txt": "Cats sleep most of the day and hunt at dusk.\n",
}

# Ten Chinese and four English passages on distinct topics (enough Chinese chunks to measure coverage).
ZH = {
    "zh/panda.txt": "大熊猫是中国特有的物种，主要生活在四川、陕西和甘肃的山区，它们每天要吃大量的竹子来维持体力。",
    "zh/wall.txt": "长城是中国古代修建的大型军事防御工程，东起山海关，西至嘉峪关，全长两万多公里，是世界文化遗产。",
    "zh/tea.txt": "龙井茶产于浙江杭州西湖一带，是中国十大名茶之一，以色绿、香郁、味甘、形美四绝著称于世。",
    "zh/rail.txt": "京沪高速铁路连接北京与上海，全长一千三百多公里，最高运营时速达到三百五十公里，大大缩短了旅行时间。",
    "zh/silk.txt": "丝绸之路是古代连接东西方的贸易通道，商人们沿着这条道路运送丝绸、瓷器、香料和各种珍贵的货物。",
    "zh/moon.txt": "中秋节在农历八月十五，人们在这一天赏月、吃月饼，与家人团聚，表达对远方亲人的思念之情。",
    "zh/paper.txt": "造纸术是中国古代四大发明之一，东汉时期的蔡伦改进了造纸方法，使纸张成为普遍使用的书写材料。",
    "zh/river.txt": "长江是中国第一长河，发源于青藏高原，流经十一个省市区，最后在上海注入东海，全长六千三百公里。",
    "zh/opera.txt": "京剧是中国的国粹之一，表演融合了唱、念、做、打等多种艺术形式，脸谱的颜色代表人物的不同性格。",
    "zh/rice.txt": "水稻是南方最重要的粮食作物，农民在春天插秧，在秋天收割，稻田需要充足的水分和温暖的气候。",
}
EN = {
    "en/car.txt": "The automobile engine fails to ignite when the battery is flat or the fuel pump is broken.",
    "en/garbage.txt": "Garbage collection trucks come by on Tuesday mornings.",
    "en/garden.txt": "Tomatoes grow best in sunny gardens with regular watering and rich soil.",
    "en/bank.txt": "Interest rates at the central bank were raised by a quarter point in March.",
}


def build_kb(root: Path, docs: dict[str, str] | None = None, embedder: Embedder | None = None,
             chunk_tokens: int | None = None) -> Path:
    folder = root / "docs"
    for name, text in (docs or DOCS).items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    kb = root / "kb"
    options = IngestOptions(progress=False, chunk_tokens=chunk_tokens, chunk_overlap=0 if chunk_tokens else None)
    ingest(kb, [folder], embedder or HashEmbedder(64), options)
    return kb


TINY_BEIR_CORPUS = [
    {"_id": "cats", "title": "Cats", "text": "Cats sleep all day and hunt mice at night."},
    {"_id": "tea", "title": "龙井", "text": "龙井茶产于浙江杭州西湖一带，是中国十大名茶之一。"},
    {"_id": "rail", "title": "Rail", "text": "The high speed railway links Beijing and Shanghai."},
]
TINY_BEIR_QUERIES = [("1", "when do cats hunt mice", "cats"), ("2", "龙井茶产自哪里", "tea"),
                     ("3", "railway to Shanghai", "rail")]


def write_tiny_beir(folder: Path, queries: int = 3, split: str = "dev") -> Path:
    """A three-document BEIR folder (English and Chinese) judged on its first `queries` queries."""
    import json

    (folder / "qrels").mkdir(parents=True)
    chosen = TINY_BEIR_QUERIES[:queries]

    def lines(rows: Any) -> str:
        return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)

    (folder / "corpus.jsonl").write_text(lines(TINY_BEIR_CORPUS), encoding="utf-8")
    (folder / "queries.jsonl").write_text(lines({"_id": q, "text": t} for q, t, _ in chosen), encoding="utf-8")
    qrels = "".join(f"{q}\t{doc}\t1\n" for q, _, doc in chosen)
    (folder / "qrels" / f"{split}.tsv").write_text("query-id\tcorpus-id\tscore\n" + qrels, encoding="utf-8")
    return folder
