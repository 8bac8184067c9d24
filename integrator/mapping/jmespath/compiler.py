"""Compile a JMESPath AST into nested Python closures.

Every node of the tree (the ``{"type", "children", "value"}`` dicts of the jmespath
library's parser) becomes one closure ``evaluate(value) -> result``; a node's closure
calls its children's closures. Work that does not depend on the message (function
lookup, arity, literal copies, key tuples, slice objects, the choice of comparison) is
done here, once, so evaluation is only the data walk. This module chooses a closure for
each node; :mod:`.closures` builds them.

Hot shapes get their own closures:

* a field chain (``a.b.c``, also ``a | b``) is one closure walking a tuple of keys with
  ``type(x) is dict`` checks (unrolled up to three keys);
* ``<expr> <op> <literal>`` compares against the literal with a test chosen for the
  literal's type, without allocating; ``key == 'x'`` also inlines the lookup;
* ``||`` / ``&&`` / ``!`` test JMESPath truthiness inline and short-circuit;
* projections run a plain loop (cheaper than a comprehension on Python 3.11), with the
  lookup inlined for ``items[*].key``; ``{a: x, b: y}`` of plain fields builds the dict
  directly.

A node type this module does not know (syntax newer than this compiler) is evaluated by
the library's ``TreeInterpreter`` on that subtree, with its errors translated; nothing
else ever calls into the library at evaluation time.

Evaluation errors are raised as :class:`~integrator.errors.ExpressionError` without the
expression text; :class:`~integrator.mapping.jmespath.expression.Expression` adds it.
Compile errors are :class:`~integrator.errors.ExpressionSyntaxError`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from jmespath.visitor import TreeInterpreter

from integrator.errors import ExpressionSyntaxError
from integrator.flow.suggest import did_you_mean
from integrator.mapping.jmespath.closures import (
    ORDERING,
    Evaluate,
    call_function,
    chain,
    compare_field,
    compare_to_literal,
    compose,
    constant_of,
    element_at,
    identity,
    interpreted,
    project_field,
    select_fields,
)
from integrator.mapping.jmespath.functions import FUNCTION_NAMES, FUNCTIONS
from integrator.mapping.jmespath.parsing import Node, call_position
from integrator.mapping.jmespath.signatures import (
    FunctionSpec,
    Predicate,
    argument_error,
    predicate_for,
)
from integrator.mapping.jmespath.values import (
    ExpressionReference,
    copy_value,
    is_number,
    is_truthy,
    json_equal,
)

__all__ = ["CompiledTree", "compile_tree", "field_chain", "literal_of"]

_NO_LITERAL: Final[tuple[bool, Any]] = (False, None)
_SEQUENTIAL: Final = frozenset({"subexpression", "index_expression", "pipe"})
_IDENTITY_TYPES: Final = frozenset({"current", "identity"})
_BOOLEAN_FUNCTIONS: Final = frozenset({"contains", "ends_with", "starts_with"})
# ``literal < x`` is ``x > literal``: comparisons are normalised to have the literal right.
_MIRRORED: Final[Mapping[str, str]] = {
    "eq": "eq",
    "ne": "ne",
    "lt": "gt",
    "lte": "gte",
    "gt": "lt",
    "gte": "lte",
}


@dataclass(frozen=True, slots=True)
class CompiledTree:
    """The closure for a whole expression plus what its shape tells the flow compiler."""

    evaluate: Evaluate
    field_path: tuple[str, ...] | None
    literal: tuple[bool, Any]
    equality: tuple[tuple[str, ...], Any] | None


def compile_tree(tree: Node, text: str) -> CompiledTree:
    """Compile a parsed tree; ``text`` is the source, used for error messages only.

    Raises :class:`ExpressionSyntaxError` for an unknown function (with a did-you-mean
    hint), a wrong argument count, a zero slice step, or an expression reference that is
    not a function argument.
    """
    evaluate = _Compiler(text).compile(tree)
    literal = literal_of(tree)
    if literal[0]:
        literal = (True, copy_value(literal[1]))
    return CompiledTree(evaluate, field_chain(tree), literal, _equality_of(tree))


def field_chain(node: Node) -> tuple[str, ...] | None:
    """The keys of a plain field chain (``a.b.c``, ``a | b``), else ``None``."""
    keys = _chain_keys(node)
    return keys if keys else None


def literal_of(node: Node) -> tuple[bool, Any]:
    """``(True, value)`` when the node is a literal (`` `json` `` or ``'raw'``)."""
    if node["type"] == "literal":
        return True, node["value"]
    return _NO_LITERAL


def _chain_keys(node: Node) -> tuple[str, ...] | None:
    kind = node["type"]
    if kind == "field":
        return (node["value"],)
    if kind in _IDENTITY_TYPES:
        return ()
    if kind in {"subexpression", "pipe"}:
        keys: tuple[str, ...] = ()
        for child in node["children"]:
            part = _chain_keys(child)
            if part is None:
                return None
            keys += part
        return keys
    return None


def _equality_of(node: Node) -> tuple[tuple[str, ...], Any] | None:
    if node["type"] != "comparator" or node["value"] != "eq":
        return None
    left, right = node["children"]
    for chain_node, literal_node in ((left, right), (right, left)):
        keys = field_chain(chain_node)
        is_literal, value = literal_of(literal_node)
        if keys is not None and is_literal:
            return keys, copy_value(value)
    return None


def _truth_test(node: Node, evaluate: Evaluate) -> Evaluate:
    """A closure whose Python truth is the JMESPath truth of ``evaluate``'s result."""
    if _is_boolean_valued(node):
        return evaluate  # True / False / None already agree with Python truthiness
    return lambda value: is_truthy(evaluate(value))


def _is_boolean_valued(node: Node) -> bool:
    kind = node["type"]
    if kind in {"comparator", "not_expression"}:
        return True
    if kind in {"and_expression", "or_expression"}:
        return all(_is_boolean_valued(child) for child in node["children"])
    return kind == "function_expression" and node["value"] in _BOOLEAN_FUNCTIONS


class _Compiler:
    """Turns nodes into closures; holds only the source text, for error messages."""

    def __init__(self, text: str) -> None:
        self._text = text

    def compile(self, node: Node) -> Evaluate:
        """The closure for ``node`` and its subtree."""
        kind = node["type"]
        keys = _chain_keys(node)
        if keys is not None:
            return chain(keys) if keys else identity
        if kind in _SEQUENTIAL:
            return self._sequence(node)
        method = _DISPATCH.get(kind)
        if method is None:
            return self._fallback(node)
        compiled: Evaluate = method(self, node)
        return compiled

    # -- sequential nodes ------------------------------------------------------------

    def _sequence(self, node: Node) -> Evaluate:
        stages: list[Evaluate] = []
        keys: list[str] = []
        for child in _flatten_sequence(node):
            if child["type"] == "field":
                keys.append(child["value"])
                continue
            if keys:
                stages.append(chain(tuple(keys)))
                keys = []
            stages.append(self.compile(child))
        if keys:
            stages.append(chain(tuple(keys)))
        return compose(stages)

    # -- leaves ----------------------------------------------------------------------

    def _literal(self, node: Node) -> Evaluate:
        return constant_of(copy_value(node["value"]))

    def _index(self, node: Node) -> Evaluate:
        return element_at(node["value"])

    def _slice(self, node: Node) -> Evaluate:
        start, stop, step = node["children"]
        if step == 0:
            raise ExpressionSyntaxError(
                f"JMESPath expression {self._text!r}: a slice step cannot be 0",
                kind="invalid-value",
                expression=self._text,
                position=_find(self._text, ":0"),
                hint="use a step of 1 (the default, e.g. [2:5]) or -1 to reverse",
            )
        window = slice(start, stop, step)

        def sliced(value: Any) -> Any:
            return value[window] if isinstance(value, list) else None

        return sliced

    # -- projections -----------------------------------------------------------------

    def _optional(self, node: Node) -> Evaluate | None:
        """The closure for ``node``, or ``None`` when it is the identity."""
        if node["type"] in _IDENTITY_TYPES:
            return None
        return self.compile(node)

    def _projection(self, node: Node) -> Evaluate:
        left, right = node["children"]
        base = self._optional(left) or identity
        right_keys = _chain_keys(right)
        if right_keys is not None and len(right_keys) == 1:
            return project_field(base, right_keys)
        each = self._optional(right)
        if each is None:

            def project_values(value: Any) -> Any:
                items = base(value)
                if not (type(items) is list or isinstance(items, list)):
                    return None
                collected = []
                for item in items:
                    if item is not None:
                        collected.append(item)
                return collected

            return project_values

        def project(value: Any) -> Any:
            items = base(value)
            if not (type(items) is list or isinstance(items, list)):
                return None
            # A plain loop: in Python 3.11 a comprehension costs a function call per use.
            collected = []
            for item in items:
                result = each(item)
                if result is not None:
                    collected.append(result)
            return collected

        return project

    def _value_projection(self, node: Node) -> Evaluate:
        left, right = node["children"]
        base = self._optional(left) or identity
        each = self._optional(right) or identity

        def project_object(value: Any) -> Any:
            obj = base(value)
            if not (type(obj) is dict or isinstance(obj, dict)):
                return None
            collected = []
            for item in obj.values():
                result = each(item)
                if result is not None:
                    collected.append(result)
            return collected

        return project_object

    def _filter_projection(self, node: Node) -> Evaluate:
        left, right, condition = node["children"]
        base = self._optional(left) or identity
        each = self._optional(right) or identity
        test = _truth_test(condition, self.compile(condition))

        def filter_project(value: Any) -> Any:
            items = base(value)
            if not (type(items) is list or isinstance(items, list)):
                return None
            collected = []
            for item in items:
                # The condition runs first, for every element: it may raise even where
                # the projected result would be null.
                if test(item):
                    result = each(item)
                    if result is not None:
                        collected.append(result)
            return collected

        return filter_project

    def _flatten(self, node: Node) -> Evaluate:
        base = self._optional(node["children"][0]) or identity

        def flatten(value: Any) -> Any:
            items = base(value)
            if not (type(items) is list or isinstance(items, list)):
                return None
            merged: list[Any] = []
            for item in items:
                if type(item) is list or isinstance(item, list):
                    merged.extend(item)
                else:
                    merged.append(item)
            return merged

        return flatten

    # -- multi-selects ---------------------------------------------------------------

    def _multi_select_list(self, node: Node) -> Evaluate:
        parts = tuple(self.compile(child) for child in node["children"])
        if len(parts) == 1:
            (only,) = parts
            return lambda value: None if value is None else [only(value)]
        if len(parts) == 2:
            first, second = parts
            return lambda value: None if value is None else [first(value), second(value)]
        if len(parts) == 3:
            one, two, three = parts
            return lambda value: None if value is None else [one(value), two(value), three(value)]

        def select_list(value: Any) -> Any:
            if value is None:
                return None
            selected = []
            for part in parts:
                selected.append(part(value))
            return selected

        return select_list

    def _multi_select_dict(self, node: Node) -> Evaluate:
        fields = tuple(
            (pair["value"], _chain_keys(pair["children"][0])) for pair in node["children"]
        )
        if all(keys is not None and len(keys) == 1 for _, keys in fields):
            return select_fields(tuple((name, keys[0]) for name, keys in fields if keys))
        pairs = tuple(
            (pair["value"], self.compile(pair["children"][0])) for pair in node["children"]
        )
        if len(pairs) == 1:
            ((key, only),) = pairs
            return lambda value: None if value is None else {key: only(value)}
        if len(pairs) == 2:
            (key1, first), (key2, second) = pairs
            return lambda value: (
                None if value is None else {key1: first(value), key2: second(value)}
            )

        def select_dict(value: Any) -> Any:
            if value is None:
                return None
            selected = {}
            for key, part in pairs:
                selected[key] = part(value)
            return selected

        return select_dict

    # -- logic -----------------------------------------------------------------------

    def _or_expression(self, node: Node) -> Evaluate:
        left, right = (self.compile(child) for child in node["children"])

        def either(value: Any) -> Any:
            result = left(value)
            # Inline JMESPath truthiness: Python-true, or a number (0 is true here).
            if result or type(result) is int or type(result) is float:
                return result
            return right(value)

        return either

    def _and_expression(self, node: Node) -> Evaluate:
        left, right = (self.compile(child) for child in node["children"])

        def both(value: Any) -> Any:
            result = left(value)
            if result or type(result) is int or type(result) is float:
                return right(value)
            return result

        return both

    def _not_expression(self, node: Node) -> Evaluate:
        operand = self.compile(node["children"][0])

        def negate(value: Any) -> bool:
            result = operand(value)
            return not (result or type(result) is int or type(result) is float)

        return negate

    # -- comparisons -----------------------------------------------------------------

    def _comparator(self, node: Node) -> Evaluate:
        op: str = node["value"]
        left_node, right_node = node["children"]
        for operand, other, normalised in (
            (left_node, right_node, op),
            (right_node, left_node, _MIRRORED[op]),
        ):
            is_literal, constant = literal_of(other)
            if not is_literal:
                continue
            keys = _chain_keys(operand)
            if keys is not None and len(keys) == 1:
                inlined = compare_field(normalised, keys, copy_value(constant))
                if inlined is not None:
                    return inlined
            return compare_to_literal(normalised, self.compile(operand), copy_value(constant))
        left = self.compile(left_node)
        right = self.compile(right_node)
        if op == "eq":
            return lambda value: json_equal(left(value), right(value))
        if op == "ne":
            return lambda value: not json_equal(left(value), right(value))
        order = ORDERING[op]

        def compare(value: Any) -> bool | None:
            a = left(value)
            b = right(value)
            if isinstance(a, str):
                return order(a, b) if isinstance(b, str) else None
            if is_number(a) and is_number(b):
                return order(a, b)
            return None

        return compare

    # -- functions -------------------------------------------------------------------

    def _function_expression(self, node: Node) -> Evaluate:
        name: str = node["value"]
        spec = FUNCTIONS.get(name)
        if spec is None:
            raise ExpressionSyntaxError(
                f"JMESPath expression {self._text!r} calls unknown function {name}()",
                kind="unknown-function",
                expression=self._text,
                position=call_position(self._text, name),
                hint=did_you_mean(name, FUNCTION_NAMES)
                or "known functions: " + ", ".join(sorted(FUNCTION_NAMES)),
            )
        arguments = node["children"]
        if not spec.accepts_count(len(arguments)):
            raise ExpressionSyntaxError(
                f"JMESPath expression {self._text!r}: {name}() takes {spec.arity_text()}, "
                f"got {len(arguments)}",
                kind="invalid-arity",
                expression=self._text,
                position=call_position(self._text, name),
                hint=f"the signature is {spec.signature_text()}",
            )
        evaluators: list[Evaluate] = []
        checks: list[Predicate | None] = []
        for index, argument in enumerate(arguments):
            evaluate, check = self._argument(spec, index, argument)
            evaluators.append(evaluate)
            checks.append(None if spec.checks_types else check)
        return call_function(spec, evaluators, checks)

    def _argument(
        self, spec: FunctionSpec, index: int, argument: Node
    ) -> tuple[Evaluate, Predicate | None]:
        """The closure and type check for one argument of a call to ``spec``."""
        types = spec.param_types(index)
        if argument["type"] != "expref":
            return self.compile(argument), predicate_for(types)
        inner = argument["children"][0]
        reference = ExpressionReference(self.compile(inner), _render(inner))
        if "expref" in types:
            return (lambda _value: reference), None

        def misplaced(_value: Any) -> Any:
            raise argument_error(spec, index, reference)

        return misplaced, None

    def _expref(self, node: Node) -> Evaluate:
        raise ExpressionSyntaxError(
            f"JMESPath expression {self._text!r} uses an expression reference "
            f"(&{_render(node['children'][0])}) outside a function call",
            expression=self._text,
            position=_find(self._text, "&"),
            hint="pass it to a function that takes one, e.g. sort_by(items, &price)",
        )

    # -- anything newer than this compiler --------------------------------------------

    def _fallback(self, node: Node) -> Evaluate:
        kind = node["type"]
        if not hasattr(TreeInterpreter, f"visit_{kind}"):
            raise ExpressionSyntaxError(
                f"JMESPath expression {self._text!r} uses {kind!r}, which neither this "
                "compiler nor the installed jmespath library can evaluate",
                expression=self._text,
            )
        return interpreted(node)


def _flatten_sequence(node: Node) -> list[Node]:
    """Children of nested ``.``, ``[n]`` and ``|`` nodes in application order."""
    if node["type"] in _SEQUENTIAL:
        flat: list[Node] = []
        for child in node["children"]:
            flat.extend(_flatten_sequence(child))
        return flat
    if node["type"] in _IDENTITY_TYPES:
        return []
    return [node]


def _find(text: str, needle: str) -> int | None:
    position = text.find(needle)
    return position if position >= 0 else None


def _render(node: Node) -> str:
    """Approximate source text of a subtree, for error messages only."""
    kind = node["type"]
    children = node.get("children", [])
    if kind == "field":
        return str(node["value"])
    if kind in _IDENTITY_TYPES:
        return "@"
    if kind in {"subexpression", "index_expression"}:
        return ".".join(_render(child) for child in children).replace(".[", "[")
    if kind == "index":
        return f"[{node['value']}]"
    if kind == "function_expression":
        return f"{node['value']}({', '.join(_render(child) for child in children)})"
    if kind == "literal":
        return f"`{node['value']!r}`"
    if kind == "pipe":
        return " | ".join(_render(child) for child in children)
    return "..."


_DISPATCH: Final[Mapping[str, Callable[[_Compiler, Node], Evaluate]]] = {
    "literal": _Compiler._literal,
    "index": _Compiler._index,
    "slice": _Compiler._slice,
    "projection": _Compiler._projection,
    "value_projection": _Compiler._value_projection,
    "filter_projection": _Compiler._filter_projection,
    "flatten": _Compiler._flatten,
    "multi_select_list": _Compiler._multi_select_list,
    "multi_select_dict": _Compiler._multi_select_dict,
    "or_expression": _Compiler._or_expression,
    "and_expression": _Compiler._and_expression,
    "not_expression": _Compiler._not_expression,
    "comparator": _Compiler._comparator,
    "function_expression": _Compiler._function_expression,
    "expref": _Compiler._expref,
}
