"""JSON Schema (draft 2020-12), compiled once into plain Python closures.

``compile_schema(schema)`` checks the schema against the 2020-12 metaschema
(:class:`~integrator.errors.FatalError` if invalid) and compiles it (see
:mod:`.compiler`); ``CompiledSchema.is_valid(doc)`` then runs only those closures and
answers like ``jsonschema.Draft202012Validator(schema).is_valid(doc)``, 50-100x faster
on real schemas (``python bench/schema_validation.py``). ``CompiledSchema.errors(doc)``
asks jsonschema for its messages, so they read the same as before; it is meant for the
rare invalid document.

Compiled keywords: ``type`` (``integer`` accepts ``1.0``; a boolean is never a number),
``enum``, ``const``, ``properties``, ``required``, ``additionalProperties``,
``patternProperties``, ``propertyNames``, ``minProperties``, ``maxProperties``,
``dependentRequired``, ``dependentSchemas``, ``items``, ``prefixItems``, ``minItems``,
``maxItems``, ``uniqueItems``, ``contains``, ``minContains``, ``maxContains``,
``minLength``, ``maxLength`` (code points), ``pattern`` (``re.search``), ``minimum``,
``maximum``, ``exclusiveMinimum``, ``exclusiveMaximum``, ``multipleOf`` (jsonschema's
float arithmetic), ``allOf``, ``anyOf``, ``oneOf``, ``not``, ``if``/``then``/``else``
and ``$ref`` to a JSON pointer in the same document (``#``, ``#/$defs/x``,
``#/properties/a``, or the root ``$id`` with such a fragment; recursion allowed).
Annotations (``$schema``, root ``$id``, ``$defs``, ``title``, ``description``,
``default``, ``examples``, ``$comment``, ``deprecated``, ``readOnly``, ``writeOnly``,
``format``, unknown keywords) do not affect validity, as in jsonschema.

Fallback to jsonschema (``compiled`` is ``False``, ``fallback_reason`` says why), for
the whole schema: ``unevaluatedProperties``, ``unevaluatedItems``, ``$dynamicRef``,
``$vocabulary``, a ``$id`` below the root, a ``$ref`` to another document or to an
anchor (``#name``), ``patternProperties`` whose regexes do not compile joined with
``|``, a non-JSON value inside ``enum``/``const``. A document holding non-JSON values
(``Decimal``, ``tuple``, ``datetime``, ...) where they matter is validated by
jsonschema, per document; subclasses of ``dict``/``list``/``str``/``int``/``float``
(``OrderedDict``, ``IntEnum``) stay on the fast path.

Refused with :class:`~integrator.errors.FatalError`: a schema the 2020-12 metaschema
rejects (jsonschema's message), and a ``$ref`` into the schema that points to nothing
or to a non-schema (jsonschema would raise on the first document reaching it).

Deliberate differences, each pinned against the unmodified library in
``tests/mapping/test_schema_compiler.py`` so the day jsonschema changes, a test says so:

* ``uniqueItems`` uses JSON equality at every depth, so ``[[1], [true], [1]]`` is
  rejected; jsonschema 4.26 accepts it (its sort-based check misses duplicates that
  Python's ``True == 1`` sorts apart). ``errors()`` then reports that case itself.
* An integer beyond float range under a float ``multipleOf`` (``10**400`` and
  ``0.5``) is answered with exact fractions; jsonschema raises ``OverflowError``.
"""

from __future__ import annotations

from integrator.mapping.schemas.compiled import CompiledSchema, compile_schema
from integrator.mapping.schemas.compiler import SUPPORTED_KEYWORDS, UNSUPPORTED_KEYWORDS

__all__ = ["SUPPORTED_KEYWORDS", "UNSUPPORTED_KEYWORDS", "CompiledSchema", "compile_schema"]
