"""Small helpers shared by the CLI modules: JSON output and settings from flags."""

from __future__ import annotations

import json
import sys
from typing import Any

from llmapp.settings import Settings


def print_json(payload: Any) -> None:
    """One JSON document on stdout, UTF-8 as is (Chinese stays readable)."""
    sys.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2, default=str) + "\n")


def settings_from(**flags: Any) -> Settings:
    return Settings.load(**flags)
