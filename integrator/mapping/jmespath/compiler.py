"""Compile a JMESPath AST into nested Python closures.

Every node of the tree (the ``{"type", "children", "value"}`` dicts of the jmespath
library's parser) becomes one closure ``evaluate(value) -> result``; a node's closure
calls its children's closures. Work that does not depend on the message (function
lookup, arity, literal copies, key tuples, slice objects, the choice of comparison) is
done here, once, so evaluation is only the data walk.

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

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, cast

from jmespath import exceptions as jmespath_errors
from jmespath.visitor import TreeInterpreter

from integrator.errors import ExpressionError, ExpressionSyntaxError
from integrator.flow.suggest import did_you_mean
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

__all__ = ["CompiledTree", "Evaluate", "compile_tree", "field_chain", "literal_of"]

Evaluate = Callable[[Any], Any]

_NO_LITERAL: Final[tuple[bool, Any]] = (False, None)
_SEQUENTIAL: Final = frozenset({"subexpression", "index_expression", "pipe"})
_IDENTITY_TYPES: Final = frozenset({"current", "identity"})
_BOOLEAN_FUNCTIONS: Final = frozenset({"contains", "ends_with", "starts_with"})
_ORDERING: Final[Mapping[str, Callable[[Any, Any], bool]]] = {
    "lt": operator.lt,
    "lte": operator.le,
    "gt": operator.gt,
    "gte": operator.ge,
}
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


def _identity(value: Any) -> Any:
    return value


def _walk(value: Any, keys: tuple[str, ...]) -> Any:
    """Field lookups in order; ``None`` as soon as a step is not an object."""
    for key in keys:
        if type(value) is dict or isinstance(value, dict):
            value = value.get(key)
        else:
            return None
    return value


def _chain(keys: tuple[str, ...]) -> Evaluate:
    """One closure for ``a.b.c``: dict lookups guarded by ``type(x) is dict``."""
    if len(keys) == 1:
        (key,) = keys

        def field(value: Any) -> Any:
            if type(value) is dict:
                return value.get(key)
            return _walk(value, keys)

        return field
    if len(keys) == 2:
        first, second = keys
        rest = keys[1:]

        def field2(value: Any) -> Any:
            if type(value) is dict:
                value = value.get(first)
                if type(value) is dict:
                    return value.get(second)
                return _walk(value, rest)
            return _walk(value, keys)

        return field2
    if len(keys) == 3:
        first, second, third = keys
        after_first, after_second = keys[1:], keys[2:]

        def field3(value: Any) -> Any:
            if type(value) is not dict:
                return _walk(value, keys)
            value = value.get(first)
            if type(value) is not dict:
                return _walk(value, after_first)
            value = value.get(second)
            if type(value) is not dict:
                return _walk(value, after_second)
            return value.get(third)

        return field3

    def fields(value: Any) -> Any:
        for key in keys:
            if type(value) is dict or isinstance(value, dict):
                value = value.get(key)
            else:
                return None
        return value

    return fields


def _compose(stages: list[Evaluate]) -> Evaluate:
    """Apply ``stages`` left to right (the sequential nodes: ``.``, ``[n]``, ``|``)."""
    if not stages:
        return _identity
    if len(stages) == 1:
        return stages[0]
    if len(stages) == 2:
        first, second = stages
        return lambda value: second(first(value))
    if len(stages) == 3:
        first, second, third = stages
        return lambda value: third(second(first(value)))
    frozen = tuple(stages)

    def sequence(value: Any) -> Any:
        for stage in frozen:
            value = stage(value)
        return value

    return sequence


def _literal(value: Any) -> Evaluate:
    """A constant; lists and objects are copied per evaluation so results never alias."""
    if isinstance(value, (list, dict)):
        return lambda _value: copy_value(value)
    return lambda _value: value


def _index(position: int) -> Evaluate:
    if position >= 0:

        def index(value: Any) -> Any:
            if isinstance(value, list) and position < len(value):
                return value[position]
            return None

        return index
    reach = -position

    def index_from_end(value: Any) -> Any:
        if isinstance(value, list) and reach <= len(value):
            return value[position]
        return None

    return index_from_end


def _project_field(base: Evaluate, keys: tuple[str, ...]) -> Evaluate:
    """``base[*].key``: the lookup inlined in the loop (no closure call per element)."""
    (key,) = keys

    def project_field(value: Any) -> Any:
        items = base(value)
        if not (type(items) is list or isinstance(items, list)):
            return None
        collected = []
        for item in items:
            result = item.get(key) if type(item) is dict else _walk(item, keys)
            if result is not None:
                collected.append(result)
        return collected

    return project_field


def _select_fields(pairs: tuple[tuple[str, str], ...]) -> Evaluate:
    """``{out: field, ...}`` where every value is one field: lookups without closures."""

    def select_from_other(value: Any) -> Any:
        # Not a plain dict: null stays null; a dict subclass is read, anything else
        # gives null fields.
        if value is None:
            return None
        return {name: _walk(value, (key,)) for name, key in pairs}

    if len(pairs) == 1:
        ((name, key),) = pairs
        return lambda value: (
            {name: value.get(key)} if type(value) is dict else select_from_other(value)
        )
    if len(pairs) == 2:
        (name1, key1), (name2, key2) = pairs

        def select_two(value: Any) -> Any:
            if type(value) is dict:
                return {name1: value.get(key1), name2: value.get(key2)}
            return select_from_other(value)

        return select_two
    if len(pairs) == 3:
        (name1, key1), (name2, key2), (name3, key3) = pairs

        def select_three(value: Any) -> Any:
            if type(value) is dict:
                return {name1: value.get(key1), name2: value.get(key2), name3: value.get(key3)}
            return select_from_other(value)

        return select_three

    def select_fields(value: Any) -> Any:
        if type(value) is not dict:
            return select_from_other(value)
        selected = {}
        get = value.get
        for name, key in pairs:
            selected[name] = get(key)
        return selected

    return select_fields


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
            return _chain(keys) if keys else _identity
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
                stages.append(_chain(tuple(keys)))
                keys = []
            stages.append(self.compile(child))
        if keys:
            stages.append(_chain(tuple(keys)))
        return _compose(stages)

    # -- leaves ----------------------------------------------------------------------

    def _literal(self, node: Node) -> Evaluate:
        return _literal(copy_value(node["value"]))

    def _index(self, node: Node) -> Evaluate:
        return _index(node["value"])

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
        base = self._optional(left) or _identity
        right_keys = _chain_keys(right)
        if right_keys is not None and len(right_keys) == 1:
            return _project_field(base, right_keys)
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
        base = self._optional(left) or _identity
        each = self._optional(right) or _identity

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
        base = self._optional(left) or _identity
        each = self._optional(right) or _identity
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
        base = self._optional(node["children"][0]) or _identity

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
            return _select_fields(tuple((name, keys[0]) for name, keys in fields if keys))
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
                inlined = _compare_field(normalised, keys, copy_value(constant))
                if inlined is not None:
                    return inlined
            return _compare_to_literal(normalised, self.compile(operand), copy_value(constant))
        left = self.compile(left_node)
        right = self.compile(right_node)
        if op == "eq":
            return lambda value: json_equal(left(value), right(value))
        if op == "ne":
            return lambda value: not json_equal(left(value), right(value))
        order = _ORDERING[op]

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
            checks.append(check)
        return _call(spec, evaluators, checks)

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
        return _interpreted(node)


def _interpreted(node: Node) -> Evaluate:
    """Evaluate ``node`` with the library's TreeInterpreter, translating its errors.

    Only used for node types the compiler does not recognise (future syntax).
    """

    def interpret(value: Any) -> Any:
        try:
            return TreeInterpreter().visit(cast(Any, node), value)
        except jmespath_errors.JMESPathTypeError as exc:
            raise ExpressionError(str(exc), kind="invalid-type") from exc
        except jmespath_errors.UnknownFunctionError as exc:
            raise ExpressionError(str(exc), kind="unknown-function") from exc
        except jmespath_errors.ArityError as exc:
            raise ExpressionError(str(exc), kind="invalid-arity") from exc
        except jmespath_errors.JMESPathError as exc:
            raise ExpressionError(str(exc), kind="invalid-value") from exc

    return interpret


def _compare_to_literal(op: str, get: Evaluate, constant: Any) -> Evaluate:
    """``get(value) <op> constant`` with the test chosen by the constant's type.

    None of these allocate: equality against a scalar is one ``is`` or ``==``, ordering
    checks the operand's type first (only numbers with numbers and strings with strings
    are ordered; anything else is ``null``).
    """
    if op in {"eq", "ne"}:
        equal = _equal_to(get, constant)
        if op == "eq":
            return equal
        return lambda value: not equal(value)
    order = _ORDERING[op]
    if is_number(constant):

        def compare_number(value: Any) -> bool | None:
            found = get(value)
            if type(found) is int or type(found) is float or is_number(found):
                return order(found, constant)
            return None

        return compare_number
    if isinstance(constant, str):

        def compare_string(value: Any) -> bool | None:
            found = get(value)
            return order(found, constant) if isinstance(found, str) else None

        return compare_string

    def incomparable(value: Any) -> None:
        get(value)  # still evaluated: it may raise, and must, like everywhere else

    return incomparable


def _compare_field(op: str, keys: tuple[str, ...], constant: Any) -> Evaluate | None:
    """``key <op> scalar`` with the dict lookup inlined: the usual route condition.

    Same results as :func:`_compare_to_literal` on a field closure, one call fewer.
    ``None`` when the constant is a list or object (the generic path handles those).
    """
    (key,) = keys
    if op in {"eq", "ne"}:
        negate = op == "ne"
        if constant is None or isinstance(constant, bool):

            def is_same(value: Any) -> bool:
                found = value.get(key) if type(value) is dict else _walk(value, keys)
                return (found is constant) is not negate

            return is_same
        if isinstance(constant, str):

            def equal_text(value: Any) -> bool:
                found = value.get(key) if type(value) is dict else _walk(value, keys)
                return (found == constant) is not negate

            return equal_text
        if is_number(constant):

            def equal_number(value: Any) -> bool:
                found = value.get(key) if type(value) is dict else _walk(value, keys)
                return (found == constant and type(found) is not bool) is not negate

            return equal_number
        return None
    order = _ORDERING[op]
    if is_number(constant):

        def compare_number(value: Any) -> bool | None:
            found = value.get(key) if type(value) is dict else _walk(value, keys)
            if type(found) is int or type(found) is float or is_number(found):
                return order(found, constant)
            return None

        return compare_number
    if isinstance(constant, str):

        def compare_text(value: Any) -> bool | None:
            found = value.get(key) if type(value) is dict else _walk(value, keys)
            return order(found, constant) if isinstance(found, str) else None

        return compare_text
    return None


def _equal_to(get: Evaluate, constant: Any) -> Callable[[Any], bool]:
    if constant is None or isinstance(constant, bool):
        return lambda value: get(value) is constant
    if isinstance(constant, str):
        return lambda value: get(value) == constant
    if is_number(constant):

        def equal_number(value: Any) -> bool:
            found = get(value)
            # ``True == 1`` in Python; a boolean is never equal to a number here.
            return found == constant and type(found) is not bool

        return equal_number
    return lambda value: json_equal(get(value), constant)


def _accept(_value: Any) -> bool:
    return True


def _call(
    spec: FunctionSpec, evaluators: list[Evaluate], checks: list[Predicate | None]
) -> Evaluate:
    """The closure for a call: evaluate every argument, check their types, apply."""
    implementation = spec.implementation
    if len(evaluators) == 1:
        (argument,) = evaluators
        (check,) = checks
        if check is None:
            return lambda value: implementation(argument(value))

        def call1(value: Any) -> Any:
            x = argument(value)
            if check(x):
                return implementation(x)
            raise argument_error(spec, 0, x)

        return call1
    if len(evaluators) == 2:
        first, second = evaluators
        if checks[0] is None and checks[1] is None:
            return lambda value: implementation(first(value), second(value))
        check_first = checks[0] or _accept
        check_second = checks[1] or _accept

        def call2(value: Any) -> Any:
            x = first(value)
            y = second(value)
            if check_first(x):
                if check_second(y):
                    return implementation(x, y)
                raise argument_error(spec, 1, y)
            raise argument_error(spec, 0, x)

        return call2
    arguments = tuple(evaluators)
    argument_checks = tuple(enumerate(checks))

    def call(value: Any) -> Any:
        values = [argument(value) for argument in arguments]
        for index, check in argument_checks:
            if check is not None and not check(values[index]):
                raise argument_error(spec, index, values[index])
        return implementation(*values)

    return call


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
