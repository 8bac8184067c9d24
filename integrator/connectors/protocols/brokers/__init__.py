"""Message broker connectors: ``amqp`` (RabbitMQ), ``nats`` (JetStream), ``redis-streams``
and ``mqtt``, each a source (acknowledged only after the engine's ack) and a sink
(publishing with the broker's confirmation).

The modules import their drivers lazily, so the specs load without the extras installed.
"""
