"""Security on the listeners: TLS contexts, SASL mechanisms and the principals they establish."""

ANONYMOUS = "User:ANONYMOUS"  # the principal of a connection nothing has authenticated, as Kafka names it
