"""integrator.codecs.xml: XML ⇄ dict, hardened against hostile documents."""

from __future__ import annotations

import http.server
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from integrator.codecs.xml import parse_xml, to_xml, xml_encoding_name
from integrator.errors import ConversionError, DecodeError

# -- audit hook: records every file a test opens, to prove hostile XML reads nothing ----
_OPENED: list[str] = []
_WATCH: list[str] = []


def _audit(event: str, args: tuple[object, ...]) -> None:
    if (event == "open" and _WATCH and args and isinstance(args[0], str | Path)
            and any(w in str(args[0]) for w in _WATCH)):
        _OPENED.append(str(args[0]))


sys.addaudithook(_audit)


@pytest.fixture
def canary(tmp_path: Path) -> Iterator[Path]:
    secret = tmp_path / "canary-secret.txt"
    secret.write_text("CANARY-7f3a9c-TOP-SECRET")
    _OPENED.clear()
    _WATCH.append(secret.name)
    yield secret
    _WATCH.clear()


@pytest.fixture
def http_peer() -> Iterator[tuple[str, list[str]]]:
    """A loopback HTTP server that records every request (none may arrive)."""
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            body = b'<!ENTITY leak "LEAKED">'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return None

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hits
    finally:
        server.shutdown()
        server.server_close()


def test_parse_follows_xmltodict_conventions() -> None:
    doc = parse_xml(b'<Orders><Order id="1"><sku>A</sku><sku>B</sku></Order>'
                    b'<Order id="2">text</Order></Orders>')
    assert doc == {"Orders": {"Order": [
        {"@id": "1", "sku": ["A", "B"]},
        {"@id": "2", "#text": "text"},
    ]}}


def test_force_list_attr_prefix_and_cdata_key() -> None:
    doc = parse_xml('<a x="1"><b>t</b>tail</a>', force_list=["b"], attr_prefix="_",
                    cdata_key="value")
    assert doc == {"a": {"_x": "1", "b": ["t"], "value": "tail"}}


def test_polish_text_in_declared_encodings() -> None:
    for enc in ("utf-8", "cp1250", "iso-8859-2"):
        raw = f'<?xml version="1.0" encoding="{enc}"?><a>Zażółć gęślą jaźń</a>'.encode(enc)
        assert parse_xml(raw) == {"a": "Zażółć gęślą jaźń"}


def test_namespaces_kept_stripped_or_mapped() -> None:
    raw = (b'<o:Orders xmlns:o="urn:orders" xmlns="urn:default">'
           b"<o:Order><n>1</n></o:Order></o:Orders>")
    assert parse_xml(raw) == {"o:Orders": {
        "@xmlns:o": "urn:orders", "@xmlns": "urn:default", "o:Order": {"n": "1"}}}
    assert parse_xml(raw, strip_namespaces=True) == {"Orders": {"Order": {"n": "1"}}}
    mapped = parse_xml(raw, namespaces={"urn:orders": "ord", "urn:default": ""})
    assert mapped["ord:Orders"]["ord:Order"] == {"n": "1"}


def test_malformed_xml_reports_line_and_column() -> None:
    with pytest.raises(DecodeError) as info:
        parse_xml(b"<a>\n  <b>x</c>\n</a>", where="in/orders.xml")
    err = info.value
    assert err.message == "in/orders.xml: malformed XML at line 2 column 9: mismatched tag"
    assert err.context == {"file": "in/orders.xml", "line": 2, "column": 9}


@pytest.mark.parametrize("raw", [b"", b"   ", b"<a>", b"text", b"<a></a><b/>",
                                 b"<a>&undefined;</a>"])
def test_not_a_document_is_a_decode_error(raw: bytes) -> None:
    with pytest.raises(DecodeError, match="malformed XML"):
        parse_xml(raw)


def test_xxe_file_entity_refused_and_file_never_opened(canary: Path) -> None:
    payload = (f'<?xml version="1.0"?>\n<!DOCTYPE foo [\n'
               f'  <!ENTITY xxe SYSTEM "file://{canary}">\n]>\n<foo>&xxe;</foo>')
    with pytest.raises(DecodeError) as info:
        parse_xml(payload, where="evil.xml")
    assert "DOCTYPE declaration is not allowed" in info.value.message
    assert info.value.context["line"] == 2
    assert "CANARY" not in str(info.value) and "CANARY" not in repr(info.value.context)
    assert _OPENED == []


def test_xxe_external_dtd_and_parameter_entities_make_no_request(
    http_peer: tuple[str, list[str]],
) -> None:
    url, hits = http_peer
    payloads = [
        f'<!DOCTYPE foo SYSTEM "{url}/external.dtd"><foo>&leak;</foo>',
        f'<!DOCTYPE foo [<!ENTITY % p SYSTEM "{url}/p.dtd"> %p;]><foo>&leak;</foo>',
        f'<!DOCTYPE foo PUBLIC "-//X//EN" "{url}/public.dtd"><foo/>',
    ]
    for payload in payloads:
        with pytest.raises(DecodeError, match="DOCTYPE"):
            parse_xml(payload)
    time.sleep(0.05)  # a request, had one been made, would have landed by now
    assert hits == []


def test_billion_laughs_refused_fast() -> None:
    entities = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">' for i in range(1, 10)]
    payload = f'<!DOCTYPE lolz [{"".join(entities)}]><lolz>&lol9;</lolz>'
    started = time.perf_counter()
    with pytest.raises(DecodeError, match="DOCTYPE"):
        parse_xml(payload)
    assert time.perf_counter() - started < 0.5


def test_size_cap_refuses_before_parsing() -> None:
    with pytest.raises(DecodeError, match="the limit is 100"):
        parse_xml(b"<a>" + b"x" * 200 + b"</a>", max_bytes=100)
    assert parse_xml(b"<a>" + b"x" * 90 + b"</a>", max_bytes=100) == {"a": "x" * 90}


def test_depth_cap() -> None:
    deep = b"<a>" * 101 + b"</a>" * 101
    with pytest.raises(DecodeError, match="nested deeper than max_depth 100") as info:
        parse_xml(deep)
    assert 301 <= info.value.context["column"] <= 304  # at the 101st <a> (start or end)
    ok = b"<a>" * 100 + b"x" + b"</a>" * 100
    assert parse_xml(ok)["a"] is not None
    with pytest.raises(DecodeError, match="max_depth 3"):
        parse_xml(b"<a><b><c><d/></c></b></a>", max_depth=3)


def test_to_xml_writes_a_document() -> None:
    out = to_xml({"Order": {"@id": 7, "paid": True, "note": None, "sku": ["A", "B"],
                            "name": "Zażółć & <gęślą>"}})
    assert out == ('<?xml version="1.0" encoding="UTF-8"?>\n'
                   '<Order id="7"><paid>true</paid><note/><sku>A</sku><sku>B</sku>'
                   '<name>Zażółć &amp; &lt;gęślą&gt;</name></Order>')


def test_to_xml_round_trips_through_parse() -> None:
    value = {"Orders": {"Order": [{"@id": "1", "n": "x"}, {"@id": "2", "n": "y"}]}}
    assert parse_xml(to_xml(value, pretty=True)) == value


def test_to_xml_root_wraps_and_declaration_can_be_left_out() -> None:
    assert to_xml({"a": 1, "b": 2}, root="r", declaration=False) == "<r><a>1</a><b>2</b></r>"
    assert to_xml({"a": "x"}, encoding="cp1250").startswith(
        '<?xml version="1.0" encoding="windows-1250"?>')


@pytest.mark.parametrize(("python_name", "iana"), [
    ("utf-8", "UTF-8"), ("utf-8-sig", "UTF-8"), ("cp1250", "windows-1250"),
    ("iso8859-2", "ISO-8859-2"), ("iso-8859-2", "ISO-8859-2"), ("latin-1", "ISO-8859-1"),
    ("ascii", "ASCII"),
])
def test_declarations_use_iana_encoding_names(python_name: str, iana: str) -> None:
    assert xml_encoding_name(python_name) == iana
    declared = to_xml({"a": "Łódź"}, encoding=python_name)
    assert parse_xml(declared.encode(python_name, "xmlcharrefreplace")) == {"a": "Łódź"}


def test_encoding_overrides_a_missing_declaration() -> None:
    raw = "<a>Zażółć</a>".encode("cp1250")
    with pytest.raises(DecodeError, match="not well-formed"):
        parse_xml(raw)  # taken for UTF-8
    assert parse_xml(raw, encoding="cp1250") == {"a": "Zażółć"}
    assert parse_xml(b"\xef\xbb\xbf<a>x</a>", encoding="utf-8-sig") == {"a": "x"}


def test_to_xml_pretty_indents() -> None:
    assert to_xml({"a": {"b": "1"}}, pretty=True, declaration=False) == "<a>\n  <b>1</b>\n</a>"


@pytest.mark.parametrize(("value", "root", "message"), [
    ([{"a": 1}], None, "a document needs one root element"),
    ({"a": 1, "b": 2}, None, "2 top-level keys"),
    ({}, None, "0 top-level keys"),
    ([1, 2], "r", "its items need an element name"),
    ({"1st": "x"}, None, "not a valid XML element name"),
    ({"a b": "x"}, None, "not a valid XML element name"),
    ({"a": {2: "x"}}, None, "not a valid XML element name"),
    ({"a": "bell\x07"}, None, r"U\+0007"),
    ({"a": "x"}, "bad name", "not a valid XML element name"),
])
def test_to_xml_refuses_what_cannot_be_xml(value: object, root: str | None, message: str) -> None:
    with pytest.raises(ConversionError, match=message):
        to_xml(value, root=root)  # type: ignore[arg-type]
