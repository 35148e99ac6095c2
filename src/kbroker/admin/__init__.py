"""Cluster administration state and rules behind the admin APIs: config changes, client quotas.

Handlers stay thin by calling in here; what is kept across restarts is written to small JSON
files next to the topic metadata in the first log directory, as a cluster's metadata store would.
"""
