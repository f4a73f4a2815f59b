"""Sign-in with directory credentials: an LDAP bind as the person's entry."""

from __future__ import annotations

import asyncio
import logging

from node.config import Settings
from node.directory.client import DirectoryClient
from node.directory.config import DirectoryConfig
from node.directory.errors import DirectoryError
from node.errors import AuthenticationFailed

log = logging.getLogger(__name__)


async def check_directory_password(settings: Settings, external_id: str, password: str) -> bool:
    """True when the directory accepts ``password`` for the entry with this stable id.

    The entry is looked up by its id (and must still match the user filter), then
    bound as. A directory that cannot answer raises AuthenticationFailed with a
    message that says so; it never lets anyone in.
    """
    client = DirectoryClient(DirectoryConfig.from_settings(settings))
    try:
        return await asyncio.to_thread(client.check_password, external_id, password)
    except DirectoryError as exc:
        log.warning("directory sign-in impossible: %s", exc.message)
        raise AuthenticationFailed(
            "the directory that checks passwords cannot be reached; try again later"
        ) from None
