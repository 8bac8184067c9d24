"""JMESPath, compiled once into plain Python closures.

``compile_expression(text)`` parses with the jmespath library's parser and turns the tree
into nested closures (see :mod:`.compiler`); ``Expression.search(data)`` then runs only
those closures: 5-30x faster than ``jmespath.search`` per message, by expression
(``python bench/jmespath_compile.py``). Results match the JMESPath specification and
its official compliance suite (``tests/mapping/test_jmespath_compliance.py``).

``Expression`` also reports its shape for the flow compiler: ``field_path`` for a plain
field chain, ``literal`` for a constant, ``equality`` for ``<field chain> == <literal>``.

Errors: :class:`~integrator.errors.ExpressionSyntaxError` at compile time (``kind``
``syntax``, ``unknown-function``, ``invalid-arity``, ``invalid-value``);
:class:`~integrator.errors.ExpressionError` at evaluation (``invalid-type``,
``invalid-value``).

Deliberate differences from jmespath-python (where it leaks Python behaviour):
equality is JSON equality also inside arrays and objects (``[1] == [true]`` is false,
as is ``contains([1], `true`)``); ordering a string against a number, ``min_by`` over
mixed key types and ``contains('abc', `1`)`` give ``null`` / ``invalid-type`` / false
instead of a Python ``TypeError``; ``to_string`` keeps non-ASCII characters;
``to_number`` returns null for non-finite results; an expression reference (``&expr``)
is only valid as a function argument; ``merge`` type-checks every argument, not only the
first; a backtick literal must be JSON (the legacy `` `text` `` form is a syntax error,
not silently a string); unknown functions and wrong arity fail at compile time.

Extension functions (type checked like the built-ins; none changes a specification
result):

* ``lower(s)`` -- the string in lower case.
* ``upper(s)`` -- the string in upper case.
* ``trim(s)`` -- the string without leading and trailing whitespace.
* ``replace(s, old, new)`` -- every ``old`` replaced by ``new``; empty ``old`` is
  invalid-value.
* ``split(s, sep)`` -- the list of parts between separators; empty ``sep`` is
  invalid-value.
* ``add(a, b)`` -- ``a + b``.
* ``subtract(a, b)`` -- ``a - b``.
* ``multiply(a, b)`` -- ``a * b``.
* ``divide(a, b)`` -- ``a / b`` as a float; ``b == 0`` is invalid-value.
* ``round(n, digits)`` -- Python ``round(float(n), digits)``; ``digits`` must be a whole
  number (invalid-value otherwise).
* ``coalesce(v, ...)`` -- the first argument that is not null (null if none).
* ``to_integer(x)`` -- an int from a number (truncated toward zero) or a numeric
  string, null otherwise.

Arithmetic whose result JSON cannot carry (float overflow) is invalid-value.
"""

from __future__ import annotations

from integrator.mapping.jmespath.expression import Expression, compile_expression
from integrator.mapping.jmespath.functions import FUNCTION_NAMES
from integrator.mapping.jmespath.values import is_truthy

__all__ = ["FUNCTION_NAMES", "Expression", "compile_expression", "is_truthy"]
