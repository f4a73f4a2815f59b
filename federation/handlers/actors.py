"""Actor-level activities this node does not act on yet."""

from __future__ import annotations

from typing import Any

from federation.handlers.context import HandlerContext


async def handle_unsupported(context: HandlerContext, activity: dict[str, Any]) -> str:
    """Account migration (Move) is recorded but not followed automatically."""
    return f"unhandled: {activity.get('type')} is recorded but not acted on"
