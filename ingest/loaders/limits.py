"""Limits that keep a small hostile file from becoming a large amount of memory: zip bombs and text floods.

A .docx is a zip that python-docx inflates whole; its central directory says how large each member claims to
be, and Python's zipfile never inflates a member past its claimed size, so checking the claims before opening
bounds the memory. PDFs are capped in pages (pypdf builds an object per page) and every loader's output in
characters.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from ingest.errors import LoadError
from ingest.loaders.base import LoadOptions


def check_zip(path: Path, data: bytes, options: LoadOptions) -> None:
    """Refuse a zip whose members, inflated size or compression ratio are over the limits, before inflating."""
    try:
        members = zipfile.ZipFile(io.BytesIO(data)).infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise LoadError(str(path), f"corrupt or not a .docx file ({exc})") from exc
    if len(members) > options.max_zip_members:
        raise LoadError(str(path), f"{len(members):,} zip members, over max_zip_members="
                                   f"{options.max_zip_members:,}")
    inflated = sum(member.file_size for member in members)
    if inflated > options.max_unzipped_bytes:
        raise LoadError(str(path), f"inflates to {inflated:,} bytes, over max_unzipped_bytes="
                                   f"{options.max_unzipped_bytes:,} (a decompression bomb?)")
    ratio = inflated / max(1, len(data))
    if ratio > options.max_zip_ratio:
        raise LoadError(str(path), f"compressed {ratio:,.0f}:1, over max_zip_ratio={options.max_zip_ratio:,} "
                                   "(a decompression bomb?)")


def check_chars(path: Path, chars: int, options: LoadOptions) -> None:
    if chars > options.max_chars:
        raise LoadError(str(path), f"more than {options.max_chars:,} characters of text, over max_chars; split "
                                   "the file or raise the limit")
