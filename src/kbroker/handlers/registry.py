"""The dispatch table: which API keys the broker serves, at which versions, by which function.

Each handler module registers its function with `@handles(ApiKey, low, high)`. The table is the
single list of supported APIs: the ApiVersions answer is derived from it, so the broker never
advertises a version it cannot serve.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Union

if TYPE_CHECKING:
    from kbroker.handlers.context import RequestContext

HandlerResult = Union[Any, Awaitable[Any], None]
HandlerFunc = Callable[["RequestContext", Any], HandlerResult]


@dataclass(frozen=True, slots=True)
class Handler:
    api_key: int
    min_version: int
    max_version: int
    func: HandlerFunc
    cluster_only: bool = False  # an inter-broker API, served and advertised only by a cluster member
    single_node_only: bool = False  # served and advertised only by a broker outside a cluster

    def served(self, clustered: bool) -> bool:
        """Whether a broker in (or outside) a cluster serves and advertises this API."""
        return not (self.cluster_only and not clustered) and not (self.single_node_only and clustered)


HANDLERS: dict[int, Handler] = {}


def handles(api_key: int, min_version: int, max_version: int, cluster_only: bool = False,
            single_node_only: bool = False) -> Callable[[HandlerFunc], HandlerFunc]:
    """Register `func` as the handler of `api_key` for versions min..max; `cluster_only` APIs
    exist only on brokers started with `zookeeper.connect`, `single_node_only` ones only without."""

    def register(func: HandlerFunc) -> HandlerFunc:
        if api_key in HANDLERS:
            raise RuntimeError(f"api key {api_key} registered twice")
        HANDLERS[api_key] = Handler(api_key, min_version, max_version, func, cluster_only, single_node_only)
        return func

    return register
