"""The exceptions kproto raises for bytes it cannot accept."""


class ProtocolError(ValueError):
    """Input bytes do not form a valid Kafka protocol structure.

    The message says what was wrong and where (a field path or byte position), so that a
    broker can log it and close the connection, and a test can assert on it.
    """


class InvalidRecordError(ProtocolError):
    """A batch arrived intact (its CRC holds) but its records break the format's rules or those
    Kafka sets for producers: a wrong count, records that do not fill it, a control batch.

    Kafka's broker tells these apart from damaged bytes: INVALID_RECORD rather than CORRUPT_MESSAGE.
    """
