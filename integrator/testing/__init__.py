"""Testing kit for connector authors: the conformance suite, peers, loopback servers.

Every built-in connector passes the same conformance suite, and a third-party connector
gets it for free. A plugin's whole test file::

    from pathlib import Path

    from integrator.testing import AppServer, ConnectorConformance, Peer

    from acme_erp.tests.app import make_app   # a Starlette app: the ERP's real API


    class ErpPeer(Peer):
        '''A real ERP stand-in: a Starlette app on loopback, its orders in a list.'''

        def __init__(self, server, orders):
            super().__init__({"base_url": server.url}, sink_action="create_order",
                             source_options={"follow": False}, lookup_key="id",
                             lookup_options={"key": "id"})
            self.server, self.orders = server, orders

        async def seed(self, records):
            self.orders.extend(records)

        async def written(self):
            return list(self.orders)

        async def restart(self):
            self.server.restart()          # same port: the connector must reconnect

        async def close(self):
            self.server.stop()


    class TestErpConformance(ConnectorConformance):
        connector_type = "acme-erp"        # the entry-point name
        roles = ("source", "sink", "lookup")
        replayable = True

        async def start_peer(self, tmp_path: Path) -> Peer:
            orders = []
            server = AppServer(make_app(orders))
            server.start()
            return ErpPeer(server, orders)

What it checks (tests of roles not in ``roles`` are not collected):

======================================================  ==================================
test                                                    contract
======================================================  ==================================
``test_config_is_valid``                                the peer's options pass ``spec``,
                                                        ``check_config`` and the role specs
                                                        (what lint runs)
``test_declares_its_roles``                             roles exercised are implemented;
                                                        type_name, summary, actions declared
``test_check_is_ok``                                    ``check()`` reaches the peer: ok
``test_source_open_close``                              open/close twice; close idempotent
``test_source_reads_seeded_records``                    seeded records once each (in order
                                                        with ``capabilities.ordering``),
                                                        no errors, meta with text keys and
                                                        ``Peer.meta_keys``, distinct tokens
``test_source_ack_then_reopen_is_not_redelivered``      acks (out of order) are committed:
                                                        a new instance reads only new data
``test_source_unacked_records_are_redelivered``         at-least-once (``replayable``)
``test_source_partial_ack_resumes_after_the_acked``     ack the first half, reopen: exactly
                                                        the second half comes
``test_source_reconnects_after_restart``                after ``Peer.restart()`` reading
                                                        works within ``reconnect_attempts``
``test_sink_open_close``                                open/close twice; open/abort
``test_sink_writes_batches``                            batches of 1, 3, 2: ``written()``
                                                        equals the payloads (in order with
                                                        ordering, else as a multiset); one
                                                        result per delivery
``test_sink_results_have_one_entry_per_delivery``       ``Peer.bad_payload`` fails alone
                                                        with a MessageError, its neighbours
                                                        are written
``test_sink_reconnects_after_restart``                  the same open sink writes after a
                                                        restart (RetriableError allowed
                                                        before the last attempt)
``test_lookup_finds_seeded_keys``                       seeded keys found, unknown absent
``test_lookup_reconnects_after_restart``                an open lookup answers again
======================================================  ==================================

A check that cannot apply goes in ``not_applicable = {"test_name": "why"}``: the test
is skipped with that reason, visibly. Every call is bounded by ``timeout`` seconds; after
a restart, only :class:`~integrator.errors.RetriableError` may fail an attempt — a
driver's own exception fails the test ("translate at the boundary").

Helpers for peers:

* :class:`Peer` — the base class above; :class:`AppServer` / :func:`serve_app` — an
  ASGI (Starlette) app under uvicorn in a thread on 127.0.0.1, restartable on the same
  port; :func:`free_port`.
* :func:`require_service` — for peers that are machine services (PostgreSQL, RabbitMQ
  ...): skips the test when the service does not answer, fails it when ``CI=true`` or
  ``INTEGRATOR_REQUIRE_SERVICES=1``.

The kit imports pytest (a test dependency); uvicorn only when a server starts.
"""

from __future__ import annotations

from integrator.testing.conformance import ConnectorConformance
from integrator.testing.peer import Peer
from integrator.testing.servers import AppServer, free_port, serve_app
from integrator.testing.services import require_service, services_required

__all__ = [
    "AppServer",
    "ConnectorConformance",
    "Peer",
    "free_port",
    "require_service",
    "serve_app",
    "services_required",
]
