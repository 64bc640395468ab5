"""The HTTP server: OpenAI-compatible chat with citations, a knowledge-base API and a web page.

    from llmapp.server import ServerSettings, create_app
    app = create_app(Settings.load(), ServerSettings(api_key="..."))   # then: uvicorn.run(app)

Importing this package imports FastAPI but no model library.
"""

from llmapp.server.app import create_app
from llmapp.server.config import Limits, ServerSettings, is_loopback

__all__ = ["Limits", "ServerSettings", "create_app", "is_loopback"]
