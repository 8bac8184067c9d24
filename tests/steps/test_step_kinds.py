"""Every step kind, run through the engine on the memory connector."""

from __future__ import annotations

import json
from pathlib import Path

from support import run_flow

ORDERS = [
    {"id": 1, "market": "PL", "type": "b2c", "status": "paid",
     "customer": {"email": "a@x.pl", "vat_id": None},
     "items": [{"sku": "A", "qty": 2, "price": "10.00"}, {"sku": "B", "qty": 1, "price": "5.50"}]},
    {"id": 2, "market": "DE", "type": "b2b", "status": "paid",
     "customer": {"email": "b@x.de", "vat_id": "DE123456789"},
     "items": [{"sku": "C", "qty": 3, "price": "1.25"}]},
    {"id": 3, "market": "FR", "type": "b2c", "status": "cancelled",
     "customer": {"email": "c@x.fr", "vat_id": None}, "items": []},
]


def flow(steps: str, sinks: str = "out: {connection: out}", records=ORDERS,
         extra_connections: str = "") -> str:
    return (
        "flow: t\n"
        "connections:\n"
        f"  src: {{type: memory, records: {json.dumps(records)}}}\n"
        "  out: {type: memory}\n"
        f"{extra_connections}"
        "keys: {order: id}\n"
        "source: {connection: src}\n"
        "steps:\n" + steps + "sinks:\n  " + sinks + "\n"
    )


def test_map_with_every_value_form(tmp_path: Path) -> None:
    out = run_flow(flow(
        "  - map:\n"
        "      fields:\n"
        "        id: to_string(id)\n"
        "        sold_to: customer.vat_id || customer.email\n"
        "        org: {template: '{{ market }}01'}\n"
        "        kind: {const: order}\n"
        "        fixed: 7\n"
        "        vat: {expr: customer.vat_id, default: none}\n"
        "        lines: \"items[].{m: sku, q: qty}\"\n"
        "        nested: {a: market, b: [id, {const: x}]}\n"
        "  - deliver: [out]\n"), tmp_path)
    assert out.report.ok, out.report.as_dict()
    first, second = out.channel("out")[:2]
    assert first == {"id": "1", "sold_to": "a@x.pl", "org": "PL01", "kind": "order", "fixed": 7,
                     "vat": "none", "lines": [{"m": "A", "q": 2}, {"m": "B", "q": 1}],
                     "nested": {"a": "PL", "b": [1, "x"]}}
    assert second["sold_to"] == "DE123456789" and second["vat"] == "DE123456789"


def test_set_is_sequential_and_copy_on_write(tmp_path: Path) -> None:
    out = run_flow(flow(
        "  - set:\n"
        "      fields:\n"
        "        totals.net: \"round(sum(items[].multiply(to_number(price), qty)), `2`)\"\n"
        "        totals.tax: \"round(multiply(totals.net, `0.23`), `2`)\"\n"
        "        customer.email: {template: '{{ customer.email | upper }}'}\n"
        "  - deliver: [out]\n"), tmp_path)
    first = out.channel("out")[0]
    assert first["totals"] == {"net": 25.5, "tax": 5.87}
    assert first["customer"]["email"] == "A@X.PL"
    assert ORDERS[0]["customer"]["email"] == "a@x.pl"  # the input was not mutated
    assert "totals" not in ORDERS[0]


def test_rename_and_drop(tmp_path: Path) -> None:
    out = run_flow(flow(
        "  - rename: {fields: {customer.vat_id: customer.tax_id, market: country}}\n"
        "  - drop: [items, status, missing.field]\n"
        "  - deliver: [out]\n"), tmp_path)
    first = out.channel("out")[0]
    assert first == {"id": 1, "country": "PL", "type": "b2c",
                     "customer": {"email": "a@x.pl", "tax_id": None}}


def test_filter_counts_and_acks(tmp_path: Path) -> None:
    out = run_flow(flow("  - filter: \"status != 'cancelled'\"\n  - deliver: [out]\n"),
                   tmp_path)
    assert [o["id"] for o in out.channel("out")] == [1, 2]
    assert out.report.filtered == 1
    assert sorted(out.hub.acked["src"]) == [0, 1, 2]


def test_validate_dead_letters_with_every_violation(tmp_path: Path) -> None:
    schema = tmp_path / "order.json"
    schema.write_text(json.dumps({
        "type": "object",
        "required": ["id", "items"],
        "properties": {"items": {"type": "array", "minItems": 1},
                       "market": {"enum": ["PL", "DE"]}},
    }), encoding="utf-8")
    out = run_flow(flow(f"  - validate: {{schema: {schema}}}\n  - deliver: [out]\n"),
                   tmp_path)
    assert [o["id"] for o in out.channel("out")] == [1, 2]
    assert out.report.dead_lettered == 1
    letter = out.dead.letters[0]
    assert letter["keys"] == {"order": 3}
    assert letter["step"] == "validate#1"
    assert letter["error_class"] == "ValidationError"
    assert "/items" in letter["error"] and "/market" in letter["error"]
    assert letter["original"]["id"] == 3


def test_template_formats(tmp_path: Path) -> None:
    out = run_flow(flow(
        "  - template: {as: text, source: 'Order {{ id }} for {{ customer.email }}'}\n"
        "  - template:\n"
        "      as: doc\n"
        "      format: json\n"
        "      source: '{\"order\": {{ id }}, \"email\": {{ customer.email | tojson }}}'\n"
        "  - template:\n"
        "      as: xml\n"
        "      format: xml\n"
        "      source: '<Order id=\"{{ id }}\"><Note>{{ market }} &amp; co</Note></Order>'\n"
        "  - deliver: [t, d, x]\n",
        sinks="t: {connection: out, body: text}\n  d: {connection: out2, body: doc}\n"
              "  x: {connection: out3, body: xml}",
        extra_connections="  out2: {type: memory}\n  out3: {type: memory}\n"), tmp_path)
    assert out.report.ok, out.report.as_dict()
    assert out.channel("out")[0] == "Order 1 for a@x.pl"
    assert out.channel("out2")[0] == {"order": 1, "email": "a@x.pl"}
    assert out.channel("out3")[0] == '<Order id="1"><Note>PL &amp; co</Note></Order>'


def test_template_rendering_bad_json_or_xml_fails_the_message(tmp_path: Path) -> None:
    out = run_flow(flow(
        "  - template: {as: doc, format: json, source: '{\"email\": {{ customer.email }}}'}\n"
        "  - deliver: [out]\n", sinks="out: {connection: out, body: doc}"), tmp_path)
    assert out.report.dead_lettered == 3
    assert out.report.errors[0].error_class == "ConversionError"
    assert "tojson" in (out.report.errors[0].hint or "")
    out = run_flow(flow(
        "  - template: {as: x, format: xml, source: '<a>{{ id }}</b>'}\n"
        "  - deliver: [out]\n", sinks="out: {connection: out, body: x}"), tmp_path)
    assert out.report.dead_lettered == 3
    assert "well-formed" in out.report.errors[0].error


def test_xml_template_escapes_values(tmp_path: Path) -> None:
    records = [{"id": 1, "note": "<b>&'\""}]
    out = run_flow(flow(
        "  - template: {as: xml, format: xml, source: '<N>{{ note }}</N>'}\n"
        "  - deliver: [out]\n", sinks="out: {connection: out, body: xml}",
        records=records), tmp_path)
    assert out.report.ok, out.report.as_dict()
    assert out.channel("out") == ["<N>&lt;b&gt;&amp;&#39;&#34;</N>"]


def test_convert_json_xml_csv(tmp_path: Path) -> None:
    out = run_flow(flow(
        "  - map: {as: rows, fields: \"items\"}\n"
        "  - convert: {on: rows, from: json, to: csv, as: csv, columns: [sku, qty, price]}\n"
        "  - convert: {from: json, to: xml, root: Order, as: xml, on: body}\n"
        "  - convert: {on: xml, from: xml, to: json, as: back, force_list: [items]}\n"
        "  - deliver: [c, b]\n",
        sinks="c: {connection: out, body: csv}\n  b: {connection: out2, body: back}",
        records=ORDERS[:1], extra_connections="  out2: {type: memory}\n"), tmp_path)
    assert out.report.ok, out.report.as_dict()
    assert out.channel("out")[0].splitlines() == ["sku,qty,price", "A,2,10.00", "B,1,5.50"]
    back = out.channel("out2")[0]["Order"]
    assert back["market"] == "PL" and back["items"][0]["sku"] == "A"


def test_split_children_ack_parent_once(tmp_path: Path) -> None:
    out = run_flow(flow(
        "  - split: items\n"
        "  - map: {fields: {sku: sku, order: {template: '{{ keys.order }}'}}}\n"
        "  - deliver: [out]\n"), tmp_path)
    assert out.channel("out") == [
        {"sku": "A", "order": "1"}, {"sku": "B", "order": "1"}, {"sku": "C", "order": "2"}]
    assert out.report.filtered == 1  # order 3 has no items
    assert sorted(out.hub.acked["src"]) == [0, 1, 2]
    assert out.report.completed == 3


def test_split_keeping_the_body(tmp_path: Path) -> None:
    out = run_flow(flow(
        "  - split: {path: items, as: line}\n"
        "  - map: {fields: {order: id, sku: {template: '{{ vars.line.sku }}'}}}\n"
        "  - deliver: [out]\n"), tmp_path)
    assert out.channel("out")[:2] == [{"order": 1, "sku": "A"}, {"order": 1, "sku": "B"}]


def test_aggregate_by_key_and_count(tmp_path: Path) -> None:
    records = [{"id": i, "customer": f"c{i % 2}"} for i in range(7)]
    out = run_flow(flow(
        "  - aggregate: {key: customer, count: 2}\n"
        "  - deliver: [out]\n", records=records), tmp_path)
    groups = out.channel("out")
    assert [(g["key"], [i["id"] for i in g["items"]]) for g in groups] == [
        ("c0", [0, 2]), ("c1", [1, 3]), ("c0", [4, 6]), ("c1", [5])]
    assert sorted(out.hub.acked["src"]) == list(range(7))


def test_enrich_from_lookup_with_cache(tmp_path: Path) -> None:
    out = run_flow(flow(
        "  - split: items\n"
        "  - enrich: {connection: products, options: {key: sku}, key: sku, into: product}\n"
        "  - deliver: [out]\n",
        extra_connections="  products: {type: memory, records: [{sku: A, name: Apple}, "
                          "{sku: C, name: Cherry}]}\n"), tmp_path)
    rows = out.channel("out")
    assert [(r["sku"], r["product"]) for r in rows] == [
        ("A", {"sku": "A", "name": "Apple"}), ("B", None), ("C", {"sku": "C", "name": "Cherry"})]


def test_enrich_required_miss_fails_the_message(tmp_path: Path) -> None:
    out = run_flow(flow(
        "  - split: items\n"
        "  - enrich: {connection: products, options: {key: sku}, key: sku, into: product,"
        " required: true}\n"
        "  - deliver: [out]\n",
        extra_connections="  products: {type: memory, records: [{sku: A}, {sku: C}]}\n"),
        tmp_path)
    assert [r["sku"] for r in out.channel("out")] == ["A", "C"]
    assert out.report.dead_lettered == 1
    assert "found nothing for 'B'" in out.dead.letters[0]["error"]


def test_route_first_match_table_and_otherwise(tmp_path: Path) -> None:
    out = run_flow(flow(
        "  - route:\n"
        "      - {when: \"market == 'PL'\", to: [pl]}\n"
        "      - {when: \"market == 'DE'\", to: [de]}\n"
        "      - otherwise: [rest]\n",
        sinks="pl: {connection: out}\n  de: {connection: out2}\n  rest: {connection: out3}",
        extra_connections="  out2: {type: memory}\n  out3: {type: memory}\n"), tmp_path)
    route = out.engine.flow.steps[0]
    assert route.table is not None  # compiled into a dict lookup
    assert [o["id"] for o in out.channel("out")] == [1]
    assert [o["id"] for o in out.channel("out2")] == [2]
    assert [o["id"] for o in out.channel("out3")] == [3]


def test_route_all_multicasts_and_unrouted(tmp_path: Path) -> None:
    out = run_flow(flow(
        "  - route:\n"
        "      mode: all\n"
        "      rules:\n"
        "        - {when: \"status == 'paid'\", to: [a]}\n"
        "        - {when: \"type == 'b2b'\", to: [a, b]}\n",
        sinks="a: {connection: out}\n  b: {connection: out2}",
        extra_connections="  out2: {type: memory}\n"), tmp_path)
    assert [o["id"] for o in out.channel("out")] == [1, 2]  # 2 once, though two rules say a
    assert [o["id"] for o in out.channel("out2")] == [2]
    assert out.report.unrouted == 1


def test_route_to_branches_forks_messages(tmp_path: Path) -> None:
    out = run_flow(flow(
        "  - route:\n"
        "      mode: all\n"
        "      rules:\n"
        "        - {when: \"type == 'b2b'\", to: [account]}\n"
        "        - {when: \"status == 'paid'\", to: [pick]}\n"
        "  - id: account\n"
        "    map: {fields: {account: customer.vat_id}}\n"
        "  - deliver: [a]\n"
        "  - id: pick\n"
        "    map: {fields: {pick: id}}\n"
        "  - deliver: [p]\n",
        sinks="a: {connection: out}\n  p: {connection: out2}",
        extra_connections="  out2: {type: memory}\n"), tmp_path)
    assert out.channel("out") == [{"account": "DE123456789"}]
    assert out.channel("out2") == [{"pick": 1}, {"pick": 2}]
    assert sorted(out.hub.acked["src"]) == [0, 1, 2]
    assert out.report.unrouted == 1


def test_error_policies(tmp_path: Path) -> None:
    steps = (
        "  - map: {fields: {n: \"abs(market)\"}}\n"  # invalid-type on every message
        "    on_error: skip\n"
        "  - deliver: [out]\n")
    out = run_flow(flow(steps), tmp_path)
    assert out.report.skipped == 3 and out.report.dead_lettered == 0
    assert out.channel("out") == []
    assert sorted(out.hub.acked["src"]) == [0, 1, 2]

    failing = run_flow(flow(steps.replace("skip", "fail")), tmp_path)
    assert failing.report.status == "failed"
    assert "on_error: fail" in (failing.report.fatal or "")
    assert failing.hub.acked.get("src", []) == []  # failed messages are never acked


def test_error_records_carry_business_keys(tmp_path: Path) -> None:
    out = run_flow(flow("  - map: {fields: {n: \"abs(market)\"}}\n  - deliver: [out]\n"),
                   tmp_path)
    assert out.report.dead_lettered == 3
    rec = out.report.errors[0]
    assert rec.flow == "t" and rec.step == "map#1" and rec.keys == {"order": 1}
    assert rec.error_class == "ExpressionError"
    assert "abs" in rec.error


def test_missing_var_for_a_sink_fails_only_that_delivery(tmp_path: Path) -> None:
    out = run_flow(flow(
        "  - route:\n"
        "      - {when: \"market == 'PL'\", to: [prep]}\n"
        "      - otherwise: [send]\n"
        "  - id: prep\n"
        "    map: {as: doc, fields: {x: id}}\n"
        "  - id: send\n"
        "    deliver: [out]\n", sinks="out: {connection: out, body: doc}"), tmp_path)
    assert out.channel("out") == [{"x": 1}]
    assert out.report.dead_lettered == 2


def test_on_message_combines_documents(tmp_path: Path) -> None:
    out = run_flow(flow(
        "  - split: {path: items, as: line}\n"
        "  - map:\n"
        "      on: message\n"
        "      as: pick\n"
        "      fields: {order: body.id, sku: vars.line.sku, n: meta.split.index,"
        " key: keys.order}\n"
        "  - deliver: [out]\n", sinks="out: {connection: out, body: pick}"), tmp_path)
    assert out.channel("out")[:2] == [{"order": 1, "sku": "A", "n": 0, "key": 1},
                                      {"order": 1, "sku": "B", "n": 1, "key": 1}]


def test_on_message_is_read_only_for_in_place_steps() -> None:
    from support import problems_of

    problems = problems_of(flow("  - set: {on: message, fields: {a: b}}\n  - deliver: [out]\n"))
    assert [p.code for p in problems if p.is_error] == ["invalid-value"]


def test_bare_true_in_a_condition_is_flagged() -> None:
    from support import problems_of

    problems = problems_of(flow("  - filter: 'true'\n  - deliver: [out]\n"))
    assert [(p.code, p.severity) for p in problems] == [("field-not-literal", "warning")]
    assert "`true`" in (problems[0].hint or "")


def test_enrich_fails_only_the_messages_whose_key_failed(tmp_path: Path) -> None:
    import asyncio as _asyncio
    from collections.abc import Hashable, Mapping, Sequence

    from integrator.compiler import check_text
    from integrator.connectors.base import Connector, Lookup
    from integrator.connectors.builtin.memory import MemoryHub
    from integrator.connectors.registry import Registry
    from integrator.connectors.spec import Config
    from integrator.delivery.deadletters import MemoryDeadLetters
    from integrator.engine.runner import Engine, RunOptions
    from integrator.errors import RetriableError
    from integrator.flow.loader import LoadOptions

    class Flaky(Lookup):
        async def get_many(self, keys: Sequence[Hashable]) -> Mapping[Hashable, object]:
            return {k: RetriableError(f"{k}: country service down") if k == "B"
                    else {"sku": k} for k in keys}

    class FlakyConnector(Connector):
        type_name = "flaky"
        summary = "test"

        def lookup(self, options: Config) -> Lookup:
            return Flaky()

    registry = Registry(load_entry_points=False)
    registry.register(FlakyConnector)
    text = flow("  - split: items\n"
                "  - enrich: {connection: products, key: sku, into: product}\n"
                "  - deliver: [out]\n",
                extra_connections="  products: {type: flaky}\n")
    compiled, diag = check_text(text, "f.yaml", options=LoadOptions(env={}), registry=registry)
    assert compiled is not None, diag.problems
    hub, dead = MemoryHub(), MemoryDeadLetters()
    report = _asyncio.run(Engine(compiled, RunOptions(workdir=tmp_path),
                                 resources={"memory": hub}, dead_letters=dead).run())
    assert [r["sku"] for r in hub.channels["out"]] == ["A", "C"]
    assert report.dead_lettered == 1 and "country service down" in dead.letters[0]["error"]
