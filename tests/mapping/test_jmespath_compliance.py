"""The official JMESPath compliance suite, case by case, against the compiler.

Cases come from ``../shared/conformance/jmespath/*.json`` (or
``$INTEGRATOR_CONFORMANCE_DIR``). Each ``result`` case must match under JSON equality
(``true`` is not ``1``, ``1`` is ``1.0``); each ``error`` case must raise
``ExpressionSyntaxError`` or ``ExpressionError`` with that ``kind``; ``bench`` cases are
compiled and evaluated without a result to check.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from support import shared_path

from integrator.errors import ExpressionError, ExpressionSyntaxError
from integrator.mapping.jmespath import compile_expression

_DEFAULT_DIR = shared_path("conformance", "jmespath")
SUITE_DIR = Path(os.environ.get("INTEGRATOR_CONFORMANCE_DIR") or _DEFAULT_DIR).resolve()
EXPECTED_CASES = 892  # result + error cases in the suite at the pinned commit


def _load_cases() -> list[Any]:
    if not SUITE_DIR.is_dir():
        return []
    params = []
    for path in sorted(SUITE_DIR.glob("*.json")):
        if path.name == "schema.json":
            continue
        suites = json.loads(path.read_text(encoding="utf-8"))
        for suite_index, suite in enumerate(suites):
            for case_index, case in enumerate(suite["cases"]):
                params.append(
                    pytest.param(
                        suite["given"],
                        case,
                        id=f"{path.stem}-{suite_index}-{case_index}",
                    )
                )
    return params


CASES = _load_cases()


def json_same(actual: Any, expected: Any) -> bool:
    """JSON equality: deep, numbers by value, booleans never equal to numbers."""
    if isinstance(actual, bool) or isinstance(expected, bool):
        return type(actual) is type(expected) and actual == expected
    if isinstance(actual, (int, float)) and isinstance(expected, (int, float)):
        return actual == expected
    if isinstance(actual, list) and isinstance(expected, list):
        return len(actual) == len(expected) and all(
            json_same(a, e) for a, e in zip(actual, expected, strict=True)
        )
    if isinstance(actual, dict) and isinstance(expected, dict):
        return actual.keys() == expected.keys() and all(
            json_same(actual[k], expected[k]) for k in actual
        )
    return type(actual) is type(expected) and actual == expected


def test_json_same_tells_booleans_from_numbers() -> None:
    assert json_same([1, {"a": 1.0}], [1.0, {"a": 1}])
    assert not json_same([True], [1])
    assert not json_same({"a": 0}, {"a": False})
    assert not json_same("1", 1)
    assert not json_same(None, [])


def test_suite_is_present_and_complete() -> None:
    if not SUITE_DIR.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"JMESPath compliance suite missing at {SUITE_DIR} (CI=true)")
        pytest.skip(f"JMESPath compliance suite not found at {SUITE_DIR}")
    checked = [p for p in CASES if "bench" not in p.values[1]]
    assert len(checked) == EXPECTED_CASES


@pytest.mark.parametrize(("given", "case"), CASES)
def test_compliance_case(given: Any, case: dict[str, Any]) -> None:
    expression = case["expression"]
    if "error" in case:
        with pytest.raises((ExpressionSyntaxError, ExpressionError)) as caught:
            compile_expression(expression).search(given)
        assert caught.value.kind == case["error"], str(caught.value)
        return
    compiled = compile_expression(expression)
    actual = compiled.search(given)
    if "result" in case:
        expected = case["result"]
        assert json_same(actual, expected), f"{expression!r}: {actual!r} != {expected!r}"
        # The compiled expression must not be changed by the data or by a second run.
        assert json_same(compiled.search(given), expected)
    else:
        assert "bench" in case
