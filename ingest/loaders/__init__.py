"""File loaders: a file (or folder of files) in, Documents out.

    from ingest.loaders import LoadOptions, discover, load_file
    found = discover(["docs/"], include=["*.md"])
    for path in found.files:
        result = load_file(path, LoadOptions())
        result.documents, result.errors

One module per format, each a `Loader` registered under the `llmapp.loaders` entry-point group.
"""

from ingest.loaders.base import Loader, LoadOptions, LoadResult
from ingest.loaders.discover import Discovery, discover
from ingest.loaders.encoding import decode_text
from ingest.loaders.registry import load_file, loader_for, registered_loaders, supported_extensions

__all__ = [
    "Discovery",
    "LoadOptions",
    "LoadResult",
    "Loader",
    "decode_text",
    "discover",
    "load_file",
    "loader_for",
    "registered_loaders",
    "supported_extensions",
]
