"""Delivery guarantees: dead letters (retries, idempotency and sagas build on this)."""
