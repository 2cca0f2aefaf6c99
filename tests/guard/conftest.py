"""The guard's tests run over the same backends as the limiter's (one body, several stores)."""

from tests.ratelimit.conftest import Backend, backend, real_redis

__all__ = ["Backend", "backend", "real_redis"]
