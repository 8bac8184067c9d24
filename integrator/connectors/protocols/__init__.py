"""Protocol connectors: one package per wire protocol (http, soap, sql, amqp, ...)."""
