"""Security: TLS contexts, SASL mechanisms and the principals they establish on the listeners;
the ACL authorizer and where its ACLs are kept."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable

from kbroker.security.acls import ANONYMOUS
from kbroker.security.authorizer import Authorizer, parse_super_users
from kbroker.security.store import AclFile, AclStore

if TYPE_CHECKING:
    from kbroker.config import BrokerConfig

__all__ = ["ANONYMOUS", "Authorizer", "authorizer_for"]


def authorizer_for(config: BrokerConfig, data_dir: Path,
                   cluster_store: Callable[[], AclStore] | None = None) -> Authorizer | None:
    """The authorizer `authorizer.class.name` asks for, or None: without one everything is allowed.
    Its ACLs are the cluster's (`cluster_store`, in ZooKeeper) or else a file in the data dir."""
    if not config["authorizer.class.name"]:
        return None
    return Authorizer(cluster_store() if cluster_store else AclFile(data_dir), parse_super_users(config["super.users"]),
                      config["allow.everyone.if.no.acl.found"])
