"""Term glosses read from the passages bridge an English question and the Chinese sentence that answers it."""

from __future__ import annotations

from llmapp.generate.extractive import ExtractiveGenerator, terms
from llmapp.generate.glossary import Gloss, bridge, glosses

_PRUNING = (  # as in the seed article: a heading, then the definition
    "权重剪枝\n权重剪枝是一种通过删除网络中不重要的权重,减少模型参数量和计算量的技术。"
    "通过剪枝后的模型在推理阶段能够大幅度提高计算效率。"
)
_METHODS = "常见的剪枝方法包括权重剪枝(Weight Pruning)和神经元剪枝(Neuron Pruning)。"


def test_glosses_in_both_orders_and_both_kinds_of_parentheses() -> None:
    text = ("常见的剪枝方法包括权重剪枝(Weight Pruning)和神经元剪枝（Neuron Pruning）。"
            "ResNet,全称为残差网络(Residual Neural Network),由何凯明提出。"
            "LoRA模型,全称为Low-Rank Adaptation(低秩自适应),是一种微调技术。"
            "长短期记忆网络(LSTM)擅长处理序列。")
    assert glosses([text, text]) == [  # once each; an abbreviation alone names no term boundary
        Gloss("权重剪枝", "weight pruning"), Gloss("神经元剪枝", "neuron pruning"),
        Gloss("残差网络", "residual neural network"), Gloss("低秩自适应", "low-rank adaptation")]


def test_a_sentence_carries_the_other_languages_side_of_a_gloss_it_names() -> None:
    glossary = [Gloss("权重剪枝", "weight pruning")]
    assert bridge("权重剪枝是一种技术。", glossary) == ["weight pruning"]
    assert bridge("Weight pruning removes weights.", glossary) == ["权重剪枝"]
    assert bridge("神经元剪枝也很常见。", glossary) == []
    assert set(terms("\n".join(bridge("权重剪枝是一种技术。", glossary)))) == {"weight", "pruning"}
    assert Gloss("权重剪枝", "weight pruning").asked_by("What is weight pruning?")
    assert not Gloss("神经元剪枝", "neuron pruning").asked_by("What is weight pruning?")


def test_an_english_question_finds_the_chinese_definition_not_the_sentence_glossing_the_term() -> None:
    """The English question shares "weight pruning" only with the sentence glossing the term in another
    passage, which won; through the gloss the heading "权重剪枝" and the definition under it now match too."""
    picks = ExtractiveGenerator(max_sentences=1).select("What is weight pruning?", [_METHODS, _PRUNING])
    assert picks[0].text.startswith("权重剪枝是一种") and picks[0].overlap
    # without the gloss in the passages there is no bridge: the words alone cannot reach the definition
    alone = ExtractiveGenerator(max_sentences=1).select("What is weight pruning?", [_PRUNING])
    assert not alone[0].overlap
