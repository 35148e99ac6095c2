"""The web console: cluster, topics, records, groups and security in a browser, over the Kafka protocol.

It needs nothing private of a broker: every page is built from Kafka requests sent through the
operator tools' client (`kbroker.tools.client`), so the same console runs inside `kbroker serve
--console` and beside any Kafka-compatible broker (`kbroker console`). aiohttp, jinja2 and avro
(for Avro records) come with the `console` extra; `require()` says so in one line when they are missing.
"""

from __future__ import annotations

MISSING = "the web console needs aiohttp and jinja2: pip install 'kbroker[console]'"


def require() -> None:
    """Raise ImportError with the install hint unless the console's libraries are importable."""
    try:
        import aiohttp  # noqa: F401
        import jinja2  # noqa: F401
    except ImportError:
        raise ImportError(MISSING) from None
