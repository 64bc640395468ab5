"""Fixed texts that int8 embedding measures its activation ranges on (`ingest.embed`, precision "int8").

Fixed, not taken from the corpus being ingested, so that a chunk's vector depends on its own text alone: the
same chunk gets the same vector in every knowledge base and after every re-run. Chinese and English, prose,
lists, numbers and code, from one sentence to a few hundred tokens, as passages and as queries.
"""

from __future__ import annotations

ENGLISH = (
    "A knowledge base keeps every document as chunks, each with its source, its vector and its words.",
    "The model was trained for three epochs on 12,000 labelled reviews and reached 91.2% accuracy.",
    "Low-rank adaptation freezes the pretrained weights and learns two small matrices per layer.",
    "Patients receiving the higher dose showed a 23% reduction in systolic blood pressure after 8 weeks.",
    "To install, run `pip install llmapp` and then `llmapp ingest docs/ --kb handbook`.",
    "The central bank raised interest rates by 0.25 percentage points on Wednesday, citing inflation.",
    "Mitochondria generate most of the chemical energy needed to power the cell's biochemical reactions.",
    "def tokenize(text: str) -> list[str]:\n    return [word.lower() for word in text.split()]",
    "Q: How long does shipping take? A: Orders placed before 2 pm ship the same day; delivery takes 2-4 days.",
    "The committee will meet on 14 March 2025 in Geneva to review the draft of the climate agreement.",
    "Retrieval-augmented generation answers a question from passages it first finds in a document collection.",
    "Error 503: the service is temporarily unavailable. Please retry after 30 seconds.",
    "In 1969, Apollo 11 landed on the Moon; Neil Armstrong and Buzz Aldrin walked on its surface.",
    "- Step 1: back up the database\n- Step 2: stop the server\n- Step 3: apply the migration",
    "Gradient checkpointing trades compute for memory by recomputing activations during the backward pass.",
    "The protein was overexpressed in E. coli BL21(DE3) and purified by nickel affinity chromatography.",
)
CHINESE = (
    "知识库把每篇文档切成片段，每个片段都记录来源、向量和词语。",
    "该模型在一万二千条带标签的评论上训练了三轮，准确率达到百分之九十一点二。",
    "低秩适配冻结预训练权重，只为每一层学习两个很小的矩阵。",
    "服用较高剂量的患者在八周后收缩压平均下降了23%。",
    "安装时先运行 pip install llmapp，再运行 llmapp ingest docs/ --kb handbook。",
    "央行周三宣布将利率上调0.25个百分点，理由是通胀压力持续上升。",
    "线粒体为细胞内的生化反应提供了大部分所需的化学能量。",
    "问：发货需要多久？答：下午两点前下单当天发货，一般二到四天送达。",
    "委员会将于2025年3月14日在日内瓦开会，审议气候协定草案。",
    "检索增强生成先在文档集合中找到相关段落，再根据这些段落回答问题。",
    "错误代码503：服务暂时不可用，请在30秒后重试。",
    "1969年，阿波罗11号登月，阿姆斯特朗和奥尔德林在月球表面行走。",
    "第一步：备份数据库；第二步：停止服务器；第三步：执行数据迁移。",
    "梯度检查点在反向传播时重新计算激活值，以计算量换取显存。",
    "这家餐厅的菜味道不错，服务也很热情，就是周末排队时间太长了。",
    "深度学习模型的参数量从几百万增长到数千亿，训练成本也随之大幅上升。",
)


def calibration_texts() -> list[str]:
    """Single sentences, and passages of 4 and 16 sentences in each language and mixed (about 3,000 tokens)."""
    texts = list(ENGLISH[:6]) + list(CHINESE[:6])
    for language in (ENGLISH, CHINESE):
        texts += [" ".join(language[i : i + 4]) for i in range(0, len(language), 4)]
        texts.append(" ".join(language))
    texts.append(" ".join(a + " " + b for a, b in zip(ENGLISH, CHINESE, strict=True)))
    return texts
