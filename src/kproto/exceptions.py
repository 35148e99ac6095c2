"""The one exception kproto raises for bytes it cannot accept."""


class ProtocolError(ValueError):
    """Input bytes do not form a valid Kafka protocol structure.

    The message says what was wrong and where (a field path or byte position), so that a
    broker can log it and close the connection, and a test can assert on it.
    """
