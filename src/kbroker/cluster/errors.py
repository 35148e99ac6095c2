"""Why a broker could not join its cluster, said in one line to the operator."""


class ClusterJoinError(RuntimeError):
    """ZooKeeper unreachable, this broker id registered by a live broker, or no kazoo installed."""
