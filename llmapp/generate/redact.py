"""Credentials never leave in a message: a URL's `user:password@` is masked wherever a URL is shown."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

MASK = "***"


def redact_url(url: str) -> str:
    """`url` with the user and password of its authority replaced by ***; other URLs unchanged.

    >>> redact_url("https://alice:s3cret@llm.example.com/v1")
    'https://***@llm.example.com/v1'
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK  # not parseable: say nothing of it
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{MASK}@{host}"))


def scrub(text: str, url: str) -> str:
    """`text` (an exception's message, say) with every copy of `url` and of its credentials masked."""
    redacted = redact_url(url)
    text = text.replace(url, redacted)
    try:
        parts = urlsplit(url)
    except ValueError:
        return text
    for secret in filter(None, (parts.password, parts.netloc.rsplit("@", 1)[0] if "@" in parts.netloc else "")):
        text = text.replace(secret, MASK)
    return text
