"""Server-rendered pages for people. Calls the same services as the client API."""

from __future__ import annotations

from quart import Quart

from node.runtime import Runtime


def register(app: Quart, runtime: Runtime) -> None:
    """Add the web pages (and their languages) to a node's app."""
    from webui import chat, i18n
    from webui.pages import build_blueprint

    i18n.install(app)
    app.register_blueprint(build_blueprint(runtime))
    app.register_blueprint(chat.build_blueprint(runtime))
