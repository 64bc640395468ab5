"""Bytes to text: BOMs, strict UTF-8, BOM-less UTF-16, then GB18030 or Big5; never silent mojibake."""

from __future__ import annotations

import codecs
import logging
import re
from pathlib import Path

from ingest.errors import LoadError
from llmcommon.cjk import IDEOGRAPHS, PUNCTUATION

logger = logging.getLogger(__name__)

# Longest first: the UTF-32 LE BOM starts with the UTF-16 LE one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_CHINESE = ("gb18030", "big5")  # gb18030 is a superset of GBK and GB2312
_TRIED = "UTF-8, UTF-16, UTF-32 (with BOM), GB18030/GBK and Big5"
_SAMPLE = 64 * 1024  # bytes looked at for the UTF-16 NUL pattern
_MAX_CONTROL_RATIO = 0.01  # more control characters than this => binary
_ALLOWED_CONTROLS = frozenset("\t\n\r\f\v\x1b")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
# Ideographs, CJK punctuation and full-width forms, general punctuation, the middle dot.
_NOT_CHINESE = re.compile(f"[^\\x00-\\x7f\u00b7{IDEOGRAPHS}{PUNCTUATION}\u2000-\u206f]")


def decode_text(data: bytes, path: Path | str) -> str:
    """Decode a text file's bytes and normalise newlines to `\\n`.

    Raises LoadError("binary content, not text") for binary data, and a LoadError naming the encodings
    tried when none decodes the bytes plausibly.
    """
    text = _decode(data, str(path))
    if _looks_binary(text):
        raise LoadError(str(path), "binary content, not text")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _decode(data: bytes, path: str) -> str:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return _strict(data[len(bom) :], encoding, path)
    utf16 = _utf16_without_bom(data)  # before UTF-8: ASCII in UTF-16 is also valid UTF-8, NULs and all
    if utf16 is not None:
        return utf16
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if b"\x00" in data:
        raise LoadError(path, "binary content, not text")
    return _decode_chinese(data, path)


def _strict(data: bytes, encoding: str, path: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        reason = f"starts with a {encoding} byte-order mark but is not valid {encoding}: {exc.reason}"
        raise LoadError(path, reason) from None


def _utf16_without_bom(data: bytes) -> str | None:
    """UTF-16 text of mostly Latin script has a NUL in every other byte: odd offsets (LE) or even (BE)."""
    sample = data[:_SAMPLE]
    half = len(sample) // 2
    if half == 0 or len(data) % 2:
        return None
    odd_nuls, even_nuls = sample[1::2].count(0), sample[0::2].count(0)
    for nuls, other, encoding in ((odd_nuls, even_nuls, "utf-16-le"), (even_nuls, odd_nuls, "utf-16-be")):
        if nuls >= 0.3 * half and other <= 0.01 * half:
            try:
                return data.decode(encoding)
            except UnicodeDecodeError:
                return None
    return None


def _decode_chinese(data: bytes, path: str) -> str:
    """GB18030 and Big5 both accept most of each other's bytes; charset-normalizer tells them apart."""
    decoded = {}
    for encoding in _CHINESE:
        try:
            decoded[encoding] = data.decode(encoding)
        except UnicodeDecodeError:
            continue
    if not decoded:
        raise LoadError(path, f"cannot decode the text: tried {_TRIED}; convert the file to UTF-8 (iconv)")
    encoding = _best_chinese(data, list(decoded)) if len(decoded) > 1 else next(iter(decoded))
    text = decoded[encoding]
    if not _plausible_chinese(text):
        raise LoadError(
            path,
            f"not valid UTF-8, and reading it as {encoding} gives implausible text; tried {_TRIED}; "
            "convert the file to UTF-8 (iconv -f <encoding> -t UTF-8)",
        )
    logger.debug("%s: decoded as %s", path, encoding)
    return text


def _best_chinese(data: bytes, candidates: list[str]) -> str:
    from charset_normalizer import from_bytes

    best = from_bytes(data, cp_isolation=candidates).best()
    if best is None or best.encoding not in candidates:
        return candidates[0]
    return str(best.encoding)


def _plausible_chinese(text: str) -> bool:
    """Most non-ASCII characters of Chinese text are ideographs or CJK/full-width punctuation."""
    sample = text[:_SAMPLE] + text[len(text) // 2 : len(text) // 2 + _SAMPLE]
    wide = len(_NON_ASCII.findall(sample))
    return len(_NOT_CHINESE.findall(sample)) <= 0.1 * wide


def _looks_binary(text: str) -> bool:
    if "\x00" in text:
        return True
    sample = text[:_SAMPLE]
    controls = sum(1 for ch in sample if ord(ch) < 0x20 and ch not in _ALLOWED_CONTROLS)
    return controls > _MAX_CONTROL_RATIO * max(len(sample), 1)
