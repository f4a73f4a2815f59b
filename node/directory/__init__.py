"""Directory integration: people and groups from LDAP / Active Directory.

``fedwall directory sync`` and the periodic worker read the whole directory
(:mod:`.client`), plan the changes as a pure function of that snapshot and the
local state (:mod:`.plan`), and apply them in one transaction (:mod:`.apply`).
Sign-in with directory credentials is in :mod:`.signin`, used by
``node.services.accounts.authenticate``.
"""

from node.directory.config import AttributeMap, DirectoryConfig, ServerAddress
from node.directory.errors import (
    DirectoryBindRejected,
    DirectoryError,
    DirectoryReadError,
    DirectoryUnavailable,
    SyncConflict,
    UnsafeSyncError,
)
from node.directory.link import AccountLink
from node.directory.plan import LocalAccount, LocalGroup, LocalState, SyncPlan, plan_sync
from node.directory.progress import ProgressBar
from node.directory.snapshot import DirectoryGroup, DirectorySnapshot, DirectoryUser
from node.directory.sync import (
    STATUS_FILE,
    SyncResult,
    SyncStatus,
    read_status,
    run_recorded_sync,
    sync_directory,
)
from node.directory.worker import register

__all__ = [
    "STATUS_FILE",
    "AccountLink",
    "AttributeMap",
    "DirectoryBindRejected",
    "DirectoryConfig",
    "DirectoryError",
    "DirectoryGroup",
    "DirectoryReadError",
    "DirectorySnapshot",
    "DirectoryUnavailable",
    "DirectoryUser",
    "LocalAccount",
    "LocalGroup",
    "LocalState",
    "ProgressBar",
    "ServerAddress",
    "SyncConflict",
    "SyncPlan",
    "SyncResult",
    "SyncStatus",
    "UnsafeSyncError",
    "plan_sync",
    "read_status",
    "register",
    "run_recorded_sync",
    "sync_directory",
]
