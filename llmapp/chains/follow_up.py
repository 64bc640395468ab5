"""Does a chat turn refer back to what was said before, or is it a new question?

Only a turn that refers back is condensed (rewritten with the history into a standalone question): condensing a
new question glues it to an old topic ("What is LoRA?" after "它的缺点呢？" became a search for shortcomings).
A turn refers back when it has

- a pronoun or demonstrative pointing at something said before: it, they, this, that (not the relative "that"
  of "the file that stores vectors"), 它, 这个, 那些, 其, 该 ... (not the 其/此/该 inside 其实, 因此, 应该 ...);
- an elliptical opening or ending: "And ...", "What about ...", "How about ...", a short "On a laptop?",
  "……呢？", "还有……", "那……", "也……";
- nothing of its own: a bare "Why?", "More?", "为什么？", "举个例子".

A question with its own subject and none of these cues is new, however short ("What is LoRA?", "LoRA 是什么？").
"""

from __future__ import annotations

import re

from llmapp.language import detect_language

_EN_POINTER = re.compile(
    r"\b(it|its|itself|they|them|their|theirs|these|those|this|he|she|him|his|her|"
    r"else|instead|former|latter|as well|the same|the other one|another one)\b",
    re.IGNORECASE,
)
# "that" points back after a verb or preposition ("Why is that?", "more about that") or at the end; after a noun
# it opens a relative clause ("the command that lists bases").
_EN_THAT = re.compile(
    r"(^|\b(is|was|are|does|do|did|about|of|with|for|to|from|than|like|mean|use|try|and|but|on|in|by|after|"
    r"before|explain|why|how|what)\s+)that\b|\bthat\s*[?.!]*$",
    re.IGNORECASE,
)
_EN_EXPLETIVE_IT = re.compile(r"\bis it (possible|true|ok|okay|safe|necessary|better|worth)\b", re.IGNORECASE)
_EN_OPENING = re.compile(
    r"^(and|or|but|so|also|then|plus|what about|how about|what if|why not|same for|compared to|versus|vs\.?|"
    r"tell me more|more on|anything else|what else)\b",
    re.IGNORECASE,
)
_EN_PREPOSITION = re.compile(r"^(in|on|for|with|without|from|under|over|at|by|via|using)\b", re.IGNORECASE)
_EN_SHORT_PREPOSITION_WORDS = 5  # "On a laptop?" is a fragment; "In which file is the index stored?" is not
_EN_BARE = re.compile(
    r"^(why|how|when|where|which|really|example|examples|details|more|sources?|and|so|then|ok|okay|"
    r"how come|why not|and then|such as|for example|for instance)$",
    re.IGNORECASE,
)

# 其/此/该/他/那/这 inside these words point nowhere: removed before looking for pronouns.
_ZH_NOT_POINTERS = re.compile(
    r"其实|尤其|极其|其次|与其|其余|其他|因此|此外|如此|彼此|从此|应该|本该|活该|那么多|这么多"
)
_ZH_POINTER = re.compile(r"[它这那其该此他她]")
_ZH_OPENING = re.compile(r"^(还有|另外|那么|那|而且|并且|以及|和|跟|与|也|还|再|同样|相比|比起|对比)")
_ZH_ENDING = re.compile(r"呢\s*[?？]?\s*$")
_ZH_BARE = re.compile(
    r"^(为什么|为啥|怎么|怎么样|怎么办|怎么做|如何|多少|哪个|哪些|什么|真的|是吗|然后|还有|详细点|具体点|"
    r"更多|举个例子|举例|例如|比如|来源|出处)$"
)
_PUNCTUATION = re.compile(r"[\s\W_]+$|^[\s\W_]+")


def refers_back(question: str) -> bool:
    """True when the turn points at something said before (see the module's docstring for the cues)."""
    text = question.strip()
    if not text:
        return False
    if detect_language(text) == "zh":
        return _zh_refers_back(text)
    return _en_refers_back(text)


def _en_refers_back(text: str) -> bool:
    bare = _PUNCTUATION.sub("", text)
    if _EN_BARE.match(bare) or _EN_OPENING.match(bare):
        return True
    if _EN_PREPOSITION.match(bare) and len(bare.split()) <= _EN_SHORT_PREPOSITION_WORDS:
        return True
    if _EN_THAT.search(bare) or _EN_THAT.search(text):
        return True
    return bool(_EN_POINTER.search(_EN_EXPLETIVE_IT.sub("", text)))


def _zh_refers_back(text: str) -> bool:
    bare = _PUNCTUATION.sub("", text)
    if _ZH_BARE.match(bare) or _ZH_OPENING.match(bare) or _ZH_ENDING.search(text):
        return True
    return bool(_ZH_POINTER.search(_ZH_NOT_POINTERS.sub("", text)))
