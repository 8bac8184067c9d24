"""Every option of the ``http`` connector, declared once.

These specs drive lint, ``integrator connectors show http``, the reference page and the
JSON Schema. :mod:`.settings` turns parsed values into typed settings and checks the
rules that involve several options (auth fields, pagination fields, TLS files).
"""

from __future__ import annotations

from integrator.connectors.spec import ConfigSpec, Option
from integrator.security.egress import policy_options

__all__ = [
    "AUTH_TYPES",
    "BATCH_OPTIONS",
    "CONNECTION_OPTIONS",
    "LOOKUP_OPTIONS",
    "PAGINATION_TYPES",
    "REQUEST_OPTIONS",
    "SOURCE_OPTIONS",
]

AUTH_TYPES = ("basic", "bearer", "api_key", "oauth2_client_credentials",
              "oauth2_refresh_token")
PAGINATION_TYPES = ("none", "link_header", "next_url", "cursor", "page", "offset")
BODY_KINDS = ("json", "form", "text", "none")

_AUTH = (
    "How requests authenticate: a mapping with `type` and that type's fields. "
    "`basic`: username, password. `bearer`: token. `api_key`: name, value, in "
    "(header | query; default header). `oauth2_client_credentials`: token_url, client_id, "
    "client_secret, scope, audience, client_auth (body | basic; default body), "
    "refresh_skew (default 60s). `oauth2_refresh_token`: token_url, refresh_token, "
    "client_id, client_secret, scope, client_auth, refresh_skew; a rotated refresh token "
    "is kept in the connector state. Tokens are cached, refreshed refresh_skew before "
    "they expire and once after a 401. Give credentials as ${secret:NAME}."
)

CONNECTION_OPTIONS = ConfigSpec((
    Option("base_url", "string",
           "The API's base URL. Request paths are appended to it; its host (and the "
           "token_url's) is always allowed by the egress policy.",
           required=True,
           examples=("https://shop.myshopify.com/admin/api/2024-01",
                     "https://api.stripe.com/v1")),
    Option("auth", "mapping", _AUTH, default=None,
           examples=({"type": "bearer", "token": "${secret:ERP_TOKEN}"},
                     {"type": "api_key", "name": "X-Shopify-Access-Token",
                      "value": "${secret:SHOPIFY_TOKEN}"},
                     {"type": "oauth2_client_credentials",
                      "token_url": "https://login.example.com/oauth2/token",
                      "client_id": "integrator", "client_secret": "${secret:CLIENT_SECRET}",
                      "scope": "orders.write"})),
    Option("headers", "mapping",
           "Headers sent with every request (values may be ${secret:NAME}).",
           default={}, examples=({"Accept": "application/json"},)),
    Option("user_agent", "string", "The User-Agent header.",
           default="integrator-http/0.1", examples=("acme-integration/1.0",)),
    Option("connect_timeout", "duration", "Longest wait for a connection (and TLS).",
           default="10s", examples=("5s",)),
    Option("read_timeout", "duration", "Longest wait for the next piece of the answer.",
           default="30s", examples=("2m",)),
    Option("write_timeout", "duration", "Longest wait to send the next piece of a request.",
           default="30s", examples=("30s",)),
    Option("pool_timeout", "duration", "Longest wait for a free pooled connection.",
           default="10s", examples=("10s",)),
    Option("max_connections", "integer", "Connections open at once, across all hosts.",
           default=100, minimum=1, maximum=10_000, examples=(20,)),
    Option("max_keepalive_connections", "integer", "Idle connections kept for reuse.",
           default=20, minimum=0, maximum=10_000, examples=(20,)),
    Option("keepalive_expiry", "duration", "How long an idle connection is kept.",
           default="5s", examples=("30s",)),
    Option("max_response_size", "size",
           "The largest answer read (after decompression). A larger answer is refused "
           "while it streams in, never read whole.",
           default="10MB", examples=("10MB", "100MB")),
    Option("follow_redirects", "boolean",
           "Follow 3xx redirects; every hop is checked against the egress policy and "
           "credentials are only sent again to the same origin. Off: a 3xx answer "
           "counts as success for sinks.",
           default=True, examples=(False,)),
    Option("max_redirects", "integer", "The most redirects followed for one request.",
           default=5, minimum=0, maximum=20, examples=(5,)),
    Option("verify_tls", "boolean",
           "Verify the server's TLS certificate and host name. Turn off only for tests.",
           default=True, examples=(False,)),
    Option("ca_bundle", "path",
           "PEM file of the CA certificates to trust instead of the public ones "
           "(a private CA).", default=None, examples=("certs/internal-ca.pem",)),
    Option("client_cert", "path",
           "PEM client certificate for mutual TLS (may hold the key too).",
           default=None, examples=("certs/client.pem",)),
    Option("client_key", "path", "PEM private key of client_cert, when in its own file.",
           default=None, examples=("certs/client.key",)),
    Option("client_key_password", "string", "Password of an encrypted client_key.",
           default=None, secret=True, examples=("${secret:CLIENT_KEY_PASSWORD}",)),
    Option("min_tls_version", "string", "The lowest TLS version accepted: 1.2 or 1.3.",
           default="1.2", examples=("1.3",)),
    Option("auth_failure_status", "any",
           "Statuses that mean the connection's credentials were refused: a FatalError "
           "that stops the run (after one token refresh for OAuth2). Add 403 for APIs "
           "that answer 403 to a bad key; otherwise 403 rejects only that message.",
           default=[401], examples=([401, 403],)),
    Option("retry_status", "any",
           "Statuses, besides 429 and 5xx, that are temporary (RetriableError).",
           default=[408, 425], examples=([408, 409, 423],)),
    Option("health_path", "string",
           "Path that `integrator check` GETs to verify access (auth included). "
           "Default: a HEAD (then GET) of base_url, where any answer but a refusal of the "
           "credentials counts as reachable.", default=None,
           examples=("/shop.json", "/services/data/")),
    *policy_options(),
))

_COMMON_REQUEST = (
    Option("method", "template", "HTTP method; may be templated per message.",
           default="POST", examples=("PUT", "{{ 'PUT' if id else 'POST' }}")),
    Option("path", "template",
           "Path appended to base_url, or an absolute URL (checked by the egress policy), "
           "rendered per message. Templates see the payload's fields and body, vars, "
           "keys, meta, message. Encode values that may hold spaces, ? # or / with "
           "`| urlencode | replace('/', '%2F')`.",
           default="", examples=("/orders.json", "/orders/{{ id }}.json",
                                 "{{ callback_url }}")),
    Option("query", "mapping", "Query parameters; values are templates.",
           default={}, examples=({"validate": "true"},)),
    Option("headers", "mapping", "Request headers; values are templates.",
           default={}, examples=({"X-Market": "{{ market }}"},)),
    Option("accept_status", "any",
           "Error statuses that count as success for this sink (e.g. 409 when the "
           "record already exists).", default=[], examples=([409],)),
    Option("idempotency_header", "string", "The header that carries idempotency_key.",
           default="Idempotency-Key", examples=("Idempotency-Key", "X-Request-Id")),
)

REQUEST_OPTIONS = ConfigSpec((
    *_COMMON_REQUEST,
    Option("body", "enum",
           "What the request body is: `json` (the payload as JSON, or `template`), "
           "`form` (the payload's fields URL-encoded), `text` (the payload text, or "
           "`template`, e.g. XML), `none` (no body).",
           choices=BODY_KINDS, default="json", examples=("form", "text")),
    Option("template", "template",
           "Body text rendered per message instead of the payload (XML templates escape "
           "values when content_type says xml).",
           default=None, examples=("<order id=\"{{ id }}\">{{ note }}</order>",)),
    Option("content_type", "string",
           "Content-Type of the body. Default: application/json, "
           "application/x-www-form-urlencoded or text/plain by `body`.",
           default=None, examples=("application/xml; charset=utf-8",)),
    Option("idempotency_key", "template",
           "A key rendered per message and sent in idempotency_header, so a retried "
           "request is applied once (Stripe, Adyen, PayPal).",
           default=None, examples=("order-{{ id }}",)),
    Option("reject_html", "boolean",
           "A 2xx answer that is an HTML page (a proxy, login or maintenance page) is a "
           "failed delivery (retried), not a success.", default=True, examples=(False,)),
))

BATCH_OPTIONS = ConfigSpec((
    *_COMMON_REQUEST,
    Option("max_batch", "integer", "The most payloads in one request.",
           default=100, minimum=1, maximum=100_000, examples=(200,)),
    Option("envelope", "string",
           "Wrap the array in an object under this key (`{\"records\": [...]}`); "
           "default: the array itself is the body.", default=None,
           examples=("records",)),
    Option("envelope_fields", "mapping",
           "Other fields of the envelope object.", default={},
           examples=({"allOrNone": False},)),
    Option("results", "string",
           "JMESPath to the per-item results in the answer, one per payload in order. "
           "Without it the batch succeeds or fails as a whole.", default=None,
           examples=("@", "results", "items")),
    Option("item_ok", "string",
           "JMESPath on one item result; true means that payload succeeded. Default: "
           "success unless the item has a truthy `error` or `errors`, `success: false`, "
           "or a `status`/`statusCode` of 400 or more.",
           default=None, examples=("success", "status == 'ok'")),
    Option("item_error", "string",
           "JMESPath on a failed item result giving its error text (default: the item).",
           default=None, examples=("errors[0].message",)),
    Option("idempotency_key", "template",
           "A key rendered per payload; the request carries a hash of the batch's keys "
           "in idempotency_header, the same for the same payloads.",
           default=None, examples=("order-{{ id }}",)),
))

SOURCE_OPTIONS = ConfigSpec((
    Option("path", "string", "Path appended to base_url (or an absolute URL).",
           default="", examples=("/orders.json", "/services/data/v58.0/query")),
    Option("method", "string", "HTTP method of the first page.", default="GET",
           examples=("POST",)),
    Option("query", "mapping", "Query parameters of the first page.",
           default={}, examples=({"status": "any", "limit": 250},)),
    Option("headers", "mapping", "Extra request headers.", default={},
           examples=({"Accept": "application/json"},)),
    Option("body", "any", "JSON body of the first page's request (search APIs).",
           default=None, examples=({"filter": {"status": "open"}},)),
    Option("records", "string",
           "JMESPath to the records in each page's answer. Default: a JSON array answer "
           "gives its items, an object is one record.",
           default=None, examples=("orders", "records", "data", "value")),
    Option("pagination", "mapping",
           "How to get the next page: a mapping with `type`. `link_header`: rel (default "
           "next) — Shopify. `next_url`: next (JMESPath to the next page's URL, relative "
           "URLs resolve against the current page) — Salesforce nextRecordsUrl, OData "
           "@odata.nextLink. `cursor`: param (query parameter), cursor (JMESPath to the "
           "next cursor) or cursor_from_last (JMESPath on the last record, Stripe: id), "
           "has_more (JMESPath; false stops). `page`: param (default page), start "
           "(default 1), size_param, size, total_pages (JMESPath). `offset`: param "
           "(default offset), start (0), size_param, size, total (JMESPath). Page and "
           "offset stop at an empty page, or a short one when size_param is set.",
           default=None,
           examples=({"type": "link_header"},
                     {"type": "next_url", "next": "nextRecordsUrl"},
                     {"type": "cursor", "param": "starting_after", "cursor_from_last": "id",
                      "has_more": "has_more"},
                     {"type": "offset", "size_param": "count", "size": 1000,
                      "total": "total_items"})),
    Option("watermark", "mapping",
           "Read only what changed since the last run: `field` (JMESPath on a record, "
           "e.g. updated_at), `param` (the query parameter that takes it, e.g. "
           "updated_at_min), `initial` (value for the first run; default: read all), "
           "`sorted` (true when the API returns records in ascending field order). The "
           "highest value is saved in the connector state once the records up to it "
           "were acknowledged (unsorted: every record of the poll); records at the "
           "boundary value already delivered are not delivered again.",
           default=None,
           examples=({"field": "updated_at", "param": "updated_at_min",
                      "initial": "2024-01-01T00:00:00Z", "sorted": True},)),
    Option("follow", "boolean",
           "false: read what is there now, then end (integrator run). true: poll every "
           "`interval` until stopped (integrator serve).", default=False,
           examples=(True,)),
    Option("interval", "duration", "Pause between polls when follow is true.",
           default="60s", examples=("30s", "5m")),
    Option("max_pages", "integer",
           "The most pages one poll reads; more is an error (a pagination that does "
           "not end).", default=10_000, minimum=1, examples=(100_000,)),
))

LOOKUP_OPTIONS = ConfigSpec((
    Option("path", "template",
           "Path (or absolute URL) rendered per key: `{{ key }}` is the looked-up key.",
           required=True, examples=("/customers/{{ key }}.json",)),
    Option("method", "string", "HTTP method.", default="GET", examples=("POST",)),
    Option("query", "mapping", "Query parameters; values are templates with `key`.",
           default={}, examples=({"email": "{{ key }}"},)),
    Option("headers", "mapping", "Extra request headers; values are templates.",
           default={}),
    Option("result", "string",
           "JMESPath to the answer's value; null means not found. Default: the whole "
           "answer.", default=None, examples=("customer", "customers[0]")),
    Option("not_found_status", "any", "Statuses that mean the key does not exist.",
           default=[404, 410], examples=([404],)),
    Option("concurrency", "integer", "Keys looked up at once.",
           default=4, minimum=1, maximum=256, examples=(8,)),
))
