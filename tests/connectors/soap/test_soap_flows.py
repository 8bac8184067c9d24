"""Whole flows through the engine: orders enriched with VIES answers (enrich → soap
lookup), and orders placed through a spyne service (soap sink). A client fault
dead-letters only the message it is about; everything else arrives, and is acked."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import textwrap
from decimal import Decimal
from pathlib import Path
from typing import Any

from soap_peers import OrderBook, ViesService, order_service, serve, vies_wsdl

from integrator.compiler import CompiledFlow, check_text
from integrator.connectors.builtin.memory import MemoryHub
from integrator.delivery.deadletters import MemoryDeadLetters
from integrator.engine.report import RunReport
from integrator.engine.runner import Engine, RunOptions
from integrator.flow.loader import LoadOptions

ORDERS = [
    {"id": 1, "customer": {"vat_id": "PL5260250274"}, "sku": "A-1", "qty": 2,
     "price": "19.99"},
    {"id": 2, "customer": {"vat_id": "XX123"}, "sku": "B-2", "qty": 0, "price": "5.00"},
    {"id": 3, "customer": {"vat_id": "DE811569869"}, "sku": "C-3", "qty": 1,
     "price": "100"},
    {"id": 4, "customer": {"vat_id": "PL1111111111"}, "sku": "D-4", "qty": 3,
     "price": "0.10"},
    {"id": 5, "customer": {"vat_id": "PL5260250274"}, "sku": "E-5", "qty": 1,
     "price": "7.5"},
]


def compile_text(text: str, workdir: Path) -> CompiledFlow:
    compiled, diag = check_text(textwrap.dedent(text), "flow.yaml",
                                options=LoadOptions(env={}), workdir=workdir)
    errors = [p for p in diag.problems if p.is_error]
    assert compiled is not None and not errors, errors
    return compiled


def run(compiled: CompiledFlow, tmp_path: Path) -> tuple[RunReport, MemoryHub,
                                                         MemoryDeadLetters]:
    hub = MemoryHub()
    dead = MemoryDeadLetters()
    engine = Engine(compiled, RunOptions(workdir=tmp_path), resources={"memory": hub},
                    dead_letters=dead)
    report = asyncio.run(engine.run())
    return report, hub, dead


def test_orders_enriched_with_vies_answers(tmp_path: Path) -> None:
    service = ViesService()
    with serve(service) as url:
        compiled = compile_text(f"""\
            flow: vat-check
            keys: {{order: id}}
            connections:
              shop: {{type: memory, records: {json.dumps(ORDERS)}}}
              vies:
                type: soap
                wsdl: {vies_wsdl()}
                endpoint: {url}/taxation_customs/vies/services/checkVatService
              out: {{type: memory}}
            source: {{connection: shop}}
            steps:
              - enrich:
                  connection: vies
                  options:
                    operation: checkVat
                    arguments:
                      countryCode: "{{{{ key[:2] }}}}"
                      vatNumber: "{{{{ key[2:] }}}}"
                  key: customer.vat_id
                  into: vat_check
                  required: true
              - deliver: [out]
            sinks:
              out: {{connection: out}}
            """, tmp_path)
        report, hub, dead = run(compiled, tmp_path)
    assert report.status == "completed", report.fatal
    out = hub.channels["out"]
    assert [o["id"] for o in out] == [1, 3, 4, 5]
    checks = {o["id"]: o["vat_check"] for o in out}
    assert checks[1] == {"countryCode": "PL", "vatNumber": "5260250274",
                         "requestDate": "2024-05-01", "valid": True,
                         "name": "SKLEP TESTOWY SP. Z O.O.",
                         "address": "UL. PRÓBNA 1\n00-001 WARSZAWA"}
    assert checks[3]["valid"] is True and checks[3]["name"] == "---"
    assert checks[4]["valid"] is False
    assert checks[5] == checks[1]
    # one call per distinct key: the enrich step batches and caches
    assert sorted(c["vatNumber"] for c in service.calls) == [
        "1111111111", "123", "5260250274", "811569869"]
    assert report.dead_lettered == 1 and len(dead.letters) == 1
    letter = dead.letters[0]
    assert letter["keys"] == {"order": 2}
    assert "XX123" in letter["error"]
    assert sorted(hub.acked["shop"]) == [0, 1, 2, 3, 4]


def test_orders_placed_through_a_spyne_service(tmp_path: Path) -> None:
    book = OrderBook()
    with serve(order_service(book)) as url:
        compiled = compile_text(f"""\
            flow: place-orders
            keys: {{order: id}}
            connections:
              shop: {{type: memory, records: {json.dumps(ORDERS)}}}
              erp:
                type: soap
                wsdl: "{url}/?wsdl"
            source: {{connection: shop}}
            steps:
              - map:
                  as: call
                  fields:
                    orderId: to_string(id)
                    sku: sku
                    quantity: qty
                    unitPrice: price
                    deliveryDate: {{const: "2024-06-01"}}
              - deliver: [erp]
            sinks:
              erp:
                connection: erp
                action: call
                body: call
                options: {{operation: placeOrder}}
            """, tmp_path)
        report, hub, dead = run(compiled, tmp_path)
    assert report.status == "completed", report.fatal
    assert book.placed == [
        {"orderId": "1", "sku": "A-1", "quantity": 2, "unitPrice": Decimal("19.99"),
         "deliveryDate": dt.date(2024, 6, 1)},
        {"orderId": "3", "sku": "C-3", "quantity": 1, "unitPrice": Decimal("100"),
         "deliveryDate": dt.date(2024, 6, 1)},
        {"orderId": "4", "sku": "D-4", "quantity": 3, "unitPrice": Decimal("0.10"),
         "deliveryDate": dt.date(2024, 6, 1)},
        {"orderId": "5", "sku": "E-5", "quantity": 1, "unitPrice": Decimal("7.5"),
         "deliveryDate": dt.date(2024, 6, 1)},
    ]
    assert report.dead_lettered == 1 and len(dead.letters) == 1
    letter: dict[str, Any] = dead.letters[0]
    assert letter["keys"] == {"order": 2}
    assert letter["error_class"] == "RejectedError"
    assert "Client.InvalidQuantity" in letter["error"]
    assert letter["context"]["faultstring"] == "quantity must be at least 1, got 0"
    assert letter["payload"]["qty"] == 0 and letter["payload"]["id"] == 2
    assert report.sinks["erp"].written == 4 and report.sinks["erp"].failed == 1
    assert sorted(hub.acked["shop"]) == [0, 1, 2, 3, 4]
