"""The ``http`` connector: any HTTP/REST API as source, sink and lookup.

Datasheet
=========
:roles:     source (polling, paginated, watermarked) · sink (actions ``request``,
            ``batch``) · lookup (GET per key; 404 = not found)
:transport: httpx, one keep-alive pool per connection shared by its roles; timeouts for
            connect / read / write / pool; gzip and deflate answers decoded; answers
            streamed and cut off beyond ``max_response_size`` (default 10 MB)
:auth:      basic · bearer · api_key (header or query) · oauth2_client_credentials ·
            oauth2_refresh_token — tokens cached, refreshed ``refresh_skew`` before
            expiry and once after a 401; a rotated refresh token is kept in the state
:paging:    link_header (Shopify) · next_url (Salesforce nextRecordsUrl, OData nextLink)
            · cursor (Stripe, HubSpot) · page (WooCommerce) · offset (Mailchimp)
:TLS:       verification on; ``ca_bundle``; ``client_cert``/``client_key`` (mutual TLS);
            ``min_tls_version`` 1.2 (default) or 1.3
:egress:    every request and every redirect hop is checked against the connection's
            policy (scheme, host, port); internal addresses are refused unless listed;
            the resolved address is checked when connecting and the connection goes to
            it. A URL from message data that leaves the policy is a RejectedError and
            nothing is sent.

Guarantees
----------
* Templates (method, path, query, headers, body, idempotency key) compile when the sink
  opens and render per delivery against the payload's fields, plus ``body``, ``vars``,
  ``keys``, ``meta``, ``message``. A rendering failure rejects that delivery only.
* Errors are classified once (:mod:`.errors`); the connector never retries — except the
  one request repeated after a token refresh — the engine decides.
* ``request`` preserves the order of a batch; ``batch`` sends payloads in order within a
  request. An ``idempotency_key`` goes out as ``Idempotency-Key``.
* The source advances its watermark only when every record of a complete poll was
  acknowledged; a restart reads again whatever was not (at least once).

Options: ``integrator connectors show http`` (declared in :mod:`.options`).
"""

from __future__ import annotations

from integrator.connectors.protocols.http.connector import HttpConnector

__all__ = ["HttpConnector"]
