"""The knowledge-base name pattern shared by the CLI settings and the server."""

from __future__ import annotations

import re

# Unicode letters too: 员工手册 is a fine name. No separators, no leading dot, at most 64 characters.
# \Z, not $: "$" also matches before a final newline, so "kb\n" passed and named a folder with a newline
KB_NAME = re.compile(r"\A\w[\w.-]{0,63}\Z")


def is_kb_name(name: str) -> bool:
    return KB_NAME.match(name) is not None
