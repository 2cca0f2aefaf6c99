"""Redis as the broker: the door's checks, the consumer, the transport, dead letters, TLS."""
