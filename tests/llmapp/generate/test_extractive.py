"""The extractive backend's sentence choice: headings, code, page furniture and fragments are not answers;
the question's language wins when a passage has it; an encoder's similarity counts; both languages."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from llmapp.generate.extractive import ExtractiveGenerator, render
from llmapp.generate.sentences import candidate_sentences, classify_line, has_answer_shape, question_type
from tests.support.ground_passages import DISTILLATION, EN_DISTILLATION, GAN, GPT3, LORA


def _answer(question: str, *passages: str) -> str:
    return render(ExtractiveGenerator().select(question, list(passages)))


def test_heading_is_a_cue_not_an_answer_zh() -> None:
    text = _answer("LoRA 的核心思想是什么？", LORA, GAN)
    assert "LoRA的核心思想是通过引入低秩矩阵" in text and text.endswith("[1]")
    assert "LoRA是什么" not in text and "Goodfellow" not in text


def test_a_heading_sharing_only_question_words_cues_nothing() -> None:
    """"T5是什么" shares only 是什/什么 with "Dropout 是什么方法？" (rare bigrams, so heavily weighted) and handed its
    score to the T5 sentence under it."""
    t5 = "T5是什么\n\nT5,全称为Text-to-Text Transfer Transformer,是Google推出的一种先进的预训练模型。"
    dropout = ("L2正则化可以防止参数过大,提高模型稳定性。\n-\n"
               "Dropout:Dropout是一种随机失活的方法,其在训练过程中以一定概率随机关闭一部分神经元。")
    picks = ExtractiveGenerator(max_sentences=1).select("Dropout 是什么方法？", [t5, dropout])
    assert picks[0].text.startswith("Dropout:Dropout是一种随机失活的方法") and picks[0].overlap


def test_the_name_asked_about_is_not_the_answer_shape() -> None:
    """Every sentence about Caffe has the capitalised word "Caffe", which took the person bonus for "Who developed
    Caffe?"; only the sentence naming 伯克利 says who."""
    passage = ("速度与效率:Caffe优化了计算性能,特别是在使用GPU加速时,能够快速执行卷积神经网络的训练和推断。"
               "Caffe由伯克利人工智能研究小组和伯克利视觉与学习中心开发,以其速度、模块化和表达性而著称。")
    assert has_answer_shape("速度与效率:Caffe优化了计算性能。", "person")
    assert not has_answer_shape("速度与效率:Caffe优化了计算性能。", "person", "Who developed Caffe?")
    assert not has_answer_shape("GPT-3是一种语言模型。", "number", "How many parameters does GPT-3 have?")
    assert has_answer_shape("GPT-3具有1750亿个参数。", "number", "How many parameters does GPT-3 have?")
    picks = ExtractiveGenerator(max_sentences=1).select("Caffe 是由谁开发的？", [passage])
    assert "伯克利" in picks[0].text


def test_code_is_skipped_unless_asked() -> None:
    text = _answer("What is knowledge distillation?", EN_DISTILLATION)
    assert text.startswith("Knowledge distillation trains a small student model") and "def " not in text
    assert "Subscribe" not in text
    zh = _answer("什么是知识蒸馏？", DISTILLATION)
    assert zh.startswith("知识蒸馏是一种通过训练一个较小的学生模型") and "import" not in zh and "def " not in zh
    asked = _answer("distillation_loss 函数的代码怎么写？", DISTILLATION)
    assert "def distillation_loss" in asked


def test_page_furniture_and_fragments_are_not_candidates() -> None:
    kinds = dict(candidate_sentences(GPT3))
    assert kinds["1,152次阅读"] == "boilerplate" and kinds["没有评论"] == "boilerplate" and kinds["GPT-3"] == "heading"
    assert classify_line("x = torch.randn(1, 3, 224, 224)") == "code"
    assert classify_line("import torch.nn.functional as F") == "code"
    assert classify_line("ReLU是一种简单且高效的激活函数,其输出为") == "text"
    assert _answer("GPT-3 有多少个参数？", GPT3).startswith("GPT-3(Generative Pre-trained Transformer 3)是OpenAI")


def test_a_sentence_saying_the_question_back_hands_its_score_to_its_neighbours() -> None:
    """CMRC: "为什么此战奠定了...的霸权？" was answered by the sentence that says it back, which the grounding
    check then dropped as an echo, leaving "not found" although the cause was the sentence before."""
    passage = ("渡川之战发生于天正3年（1575年）。一条兼定带着3500人攻打长宗我部元亲。元亲见状便命令全军渡河突击，"
               "一条军溃败，战死200余人。此战奠定了长宗我部元亲在土佐的霸权。此战后，兼定逃往濑户内隐遁生活。")
    text = _answer("为什么此战奠定了长宗我部元亲在土佐的霸权？", passage)
    assert "一条军溃败" in text and "此战奠定了" not in text


def test_question_type_prefers_the_sentence_of_the_right_shape() -> None:
    assert question_type("GoogLeNet 是哪一年提出的？") == "time" and question_type("How many layers?") == "number"
    assert question_type("Who proposed GAN?") == "person" and question_type("LoRA 是什么？") == "definition"
    assert "2014年" in _answer("GAN 是哪一年提出的？", GAN)


def test_the_question_language_wins_when_a_passage_has_it() -> None:
    en = _answer("What is knowledge distillation?", DISTILLATION, EN_DISTILLATION)
    assert en.startswith("Knowledge distillation trains") and en.endswith("[2]")
    zh = _answer("什么是知识蒸馏？", EN_DISTILLATION, DISTILLATION)
    assert zh.startswith("知识蒸馏是一种") and zh.endswith("[2]")


class _TopicEncoder:
    """Embeds a text on two axes: mentions of students, mentions of anything else."""

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return np.array([[t.count("student") + 0.01, 1.0 - min(t.count("student"), 1)] for t in texts])


def test_encoder_similarity_moves_the_choice() -> None:
    passage = "Distillation needs a teacher model.\nA student model learns from the teacher model's outputs."
    plain = ExtractiveGenerator(max_sentences=1).select("Which model learns?", [passage])
    guided = ExtractiveGenerator(max_sentences=1, encoder=_TopicEncoder()).select("What does the student do?",
                                                                                  [passage])
    assert guided[0].text.startswith("A student model") and guided[0].similarity is not None
    assert plain[0].similarity is None


def test_long_chinese_sentence_is_cut_to_the_budget_not_lost() -> None:
    passage = ("纽西兰鸡毛松是一种生长于新西兰的罗汉松科常绿乔木，树高可达五十米，"
               "树干笔直，木材坚硬耐用，过去常被用来建造房屋。")
    text = "".join(ExtractiveGenerator().answer("纽西兰鸡毛松有多高？", [passage], max_tokens=20))
    assert text and passage.startswith(text.strip())  # a single unspaced sentence once yielded nothing


ACTIVATIONS = (
    "激活函数\n激活函数为神经网络引入非线性。常见的激活函数包括:\n"
    "- Sigmoid:Sigmoid函数将输入值映射到0和1之间,具有平滑的特性。\n"
    "- Tanh:Tanh函数将输入值映射到-1和1之间,输出以零为中心。\n"
    "for inputs, labels in dataloader:\n"
    "# Define a loss function for the range of outputs\n"
    "Graves, A., & Mohamed, A.\n"
    "Sigmoid Functions for Output Ranges. arXiv preprint arXiv:1408.5882.\n"
)


def test_code_references_and_lead_ins_are_not_answers() -> None:
    kinds = dict(candidate_sentences(ACTIVATIONS))
    assert kinds["for inputs, labels in dataloader:"] == "code"  # a for over two names is code too
    assert kinds["# Define a loss function for the range of outputs"] == "code"
    assert kinds["Graves, A., & Mohamed, A."] == "boilerplate"
    assert kinds["Sigmoid Functions for Output Ranges. arXiv preprint arXiv:1408.5882."] == "boilerplate"
    assert kinds["常见的激活函数包括:"] == "heading"  # a lead-in is a cue for the list under it
    assert classify_line("LeCun, Y., Bengio, Y., & Hinton, G. (2015). Deep Learning. Nature, 521(7553), 436-444.") \
        == "boilerplate"
    assert classify_line("The paper was posted on arXiv in 2017 and cited by Vaswani et al. later.") == "text"


def test_a_function_question_is_not_a_request_for_code() -> None:
    assert question_type("What range does the Sigmoid function map its input to?") != "code"
    assert question_type("Give an example of a pretrained model.") != "code"
    assert question_type("Show the code for a distillation loss in PyTorch") == "code"


def test_an_english_question_over_a_chinese_article_gets_the_articles_sentence_not_its_english_lines() -> None:
    """English lines inside a Chinese article (code comments, references, captions) used to win for an English
    question because they were in its language; the question's language is preferred only from a passage in it."""
    text = _answer("What range does the Sigmoid function map its input to?", ACTIVATIONS)
    assert "0和1之间" in text and "arXiv" not in text and "Define" not in text


_GRAPHS = "在图数据处理方面,如Graph Attention Networks (GATs)、Graph Convolutional Networks (GCNs)等,表现出色。"
_PYTORCH = (
    "动态计算图:与TensorFlow早期版本的静态计算图不同,PyTorch采用动态计算图。\n"
    "分布式训练和部署:PyTorch支持分布式训练,可以在多GPU、多节点上高效地扩展模型训练。\n"
    "易于上手:PyTorch的API设计简洁直观,学习曲线相对平缓。"
)


class _KeywordEncoder:
    """Embeds texts by whether they mention 动态计算图 (e5 reads it as "dynamic computation graph"); records
    the roles it was asked for, and refuses to run when told to."""

    def __init__(self, refuse: bool = False) -> None:
        self.refuse = refuse
        self.roles: list[str] = []

    def embed(self, texts: Sequence[str], role: str = "passage") -> np.ndarray:
        if self.refuse:
            raise AssertionError("the encoder ran for a question in its passages' language")
        self.roles.append(role)
        return np.array([[1.0, 0.1] if "动态计算图" in t or "computation graph" in t else [0.1, 1.0] for t in texts])


def test_across_languages_the_encoder_ranks_the_sentences_not_a_shared_name() -> None:
    """"graph" of the question matched "Graph Attention Networks" in a Chinese sentence and won; across
    languages the encoder's similarity decides, with the question embedded as a query."""
    question = "What kind of computation graph does PyTorch use?"
    lexical = ExtractiveGenerator(max_sentences=1).select(question, [_GRAPHS, _PYTORCH])
    assert "GATs" in lexical[0].text
    encoder = _KeywordEncoder()
    guided = ExtractiveGenerator(max_sentences=1, encoder=encoder, similarity="cross-lingual").select(
        question, [_GRAPHS, _PYTORCH])
    assert guided[0].text.startswith("动态计算图") and encoder.roles == ["query", "passage"]


def test_in_the_passages_language_cross_lingual_mode_leaves_the_words_to_decide() -> None:
    generator = ExtractiveGenerator(max_sentences=1, encoder=_KeywordEncoder(refuse=True), similarity="cross-lingual")
    picks = generator.select("PyTorch 采用什么计算图？", [_GRAPHS, _PYTORCH])
    assert picks[0].text.startswith("动态计算图") and picks[0].similarity is None


def test_statements_of_code_are_code() -> None:
    """Calls and tuple assignments without a keyword were read as English sentences and won English questions
    over Chinese articles ("inputs, labels = inputs.to(rank), labels.to(rank)" for a Batch Normalization question)."""
    for line in ("loss.backward()", "inputs, labels = inputs.to(rank), labels.to(rank)",
                 "out, (hn, cn) = self.lstm(x, (h0, c0))", "super(RNN, self).__init__()",
                 "dist.init_process_group(backend='gloo', rank=rank, world_size=world_size)",
                 "model, {torch.nn.Linear}, dtype=torch.qint8", ") * (temperature ** 2)", "return_kl * (t**2)"):
        assert classify_line(line) == "code", line
    for line in ("Use model.fit() to train, then call it.", "PyTorch采用动态计算图(见torch.autograd.grad())。",
                 "First, then, and so = on.", "Set x=1 in the config.", "Use --kb=notes to pick one.",
                 "The **important** part is the rank of the update matrices.", "这是**重点**内容,请务必注意这一点。"):
        assert classify_line(line) == "text", line


def test_a_link_with_a_label_is_no_sentence() -> None:
    """"购买链接:https://item.jd.com/14281522.html" answered "How many calories are in an apple?" over the seed
    articles (a number, and e5 puts odd strings close to any question)."""
    assert classify_line("购买链接:https://item.jd.com/14281522.html") == "boilerplate"
    assert classify_line("Docs: https://example.com/guide") == "boilerplate"
    assert classify_line("详见 https://example.com 上的安装说明,需要 Python 3.10 或更新的版本。") == "text"
