"""``compile_schema`` and the :class:`CompiledSchema` it returns."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from integrator.errors import FatalError
from integrator.mapping.schemas.compiler import BrokenReference, Unsupported, compile_check
from integrator.mapping.schemas.primitives import Check, ForeignValue

__all__ = ["CompiledSchema", "compile_schema"]

UNEXPLAINED_REJECTION = (
    "the compiled validator rejects the document but jsonschema reports no error; "
    "the one known case is uniqueItems over arrays or objects whose items differ only "
    "by true/false against 1/0 (jsonschema misses duplicates such as [[1], [true], [1]])"
)


def compile_schema(schema: dict[str, Any] | bool) -> CompiledSchema:
    """Compile a draft 2020-12 JSON Schema once, for validating any number of documents.

    The schema is first checked against the 2020-12 metaschema (regexes included); an
    invalid schema raises :class:`~integrator.errors.FatalError` carrying jsonschema's
    message and the place in the schema. So does a ``$ref`` into the schema itself
    that points to nothing (``#/$defs/missing``) or to a non-schema, found while
    compiling (jsonschema would only fail when a document reaches it). Otherwise the
    schema always compiles: when it uses
    something the fast path does not support (see :mod:`integrator.mapping.schemas`),
    the result validates with jsonschema instead, ``compiled`` is ``False`` and
    ``fallback_reason`` says why.
    """
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = exc.json_path
        raise FatalError(
            f"not a valid JSON Schema (draft 2020-12): {exc.message}"
            + ("" if where == "$" else f" (at {where})"),
            hint="fix the schema; https://json-schema.org/draft/2020-12 describes every "
                 "keyword",
            context={"schema_path": where},
        ) from None
    validator = Draft202012Validator(schema)
    try:
        check: Check | None = compile_check(schema)
        reason = None
    except Unsupported as exc:
        check, reason = None, str(exc)
    except BrokenReference as exc:
        raise FatalError(
            f"not a usable JSON Schema: {exc}",
            hint="point the $ref at an existing subschema, e.g. '#/$defs/<name>' with "
                 "<name> defined under $defs (escape '/' as ~1 and '~' as ~0)",
        ) from None
    return CompiledSchema(schema, validator, check, reason)


class CompiledSchema:
    """A JSON Schema compiled for repeated validation: immutable and thread-safe.

    Attributes:
        schema: the schema as given.
        compiled: ``True`` when :meth:`is_valid` runs compiled closures only, ``False``
            when it delegates to ``jsonschema.Draft202012Validator`` (same answers,
            about 100x slower).
        fallback_reason: why the fast path is not used (``None`` when it is), e.g.
            ``"keyword 'unevaluatedProperties' is not compiled"``.
    """

    __slots__ = ("_check", "_validator", "compiled", "fallback_reason", "schema")

    def __init__(self, schema: dict[str, Any] | bool, validator: Draft202012Validator,
                 check: Check | None, fallback_reason: str | None) -> None:
        self.schema = schema
        self._validator = validator
        self._check = check
        self.compiled = check is not None
        self.fallback_reason = fallback_reason

    def __repr__(self) -> str:
        path = "compiled" if self.compiled else f"jsonschema fallback: {self.fallback_reason}"
        return f"<CompiledSchema {path}>"

    def is_valid(self, instance: Any) -> bool:
        """Whether ``instance`` matches the schema.

        The answer is ``Draft202012Validator(schema).is_valid(instance)``'s (``format``
        is an annotation, not asserted), except for the two deliberate differences the
        package docstring lists (``uniqueItems`` over ``[[1], [true], [1]]``; a huge
        integer under a float ``multipleOf``). Values that are not JSON (``Decimal``,
        ``tuple``, ``datetime``) are answered by jsonschema itself. Never raises for
        JSON data (bar ``RecursionError`` on documents nested thousands deep, as
        jsonschema); for other data it raises what jsonschema raises.
        """
        check = self._check
        if check is None:
            return self._validator.is_valid(instance)
        try:
            # a check may return a re.Match; the conditional is cheaper than bool()
            return True if check(instance) else False  # noqa: SIM210
        except ForeignValue:
            return self._validator.is_valid(instance)

    def errors(self, instance: Any) -> list[str]:
        """Every violation in ``instance``, as ``"/path/to/field: message"`` lines.

        Meant for after :meth:`is_valid` returned ``False``: the messages are
        jsonschema's (``iter_errors``), sorted by path (numbers before names at the
        same depth, jsonschema's order among equal paths); the root is ``"/"``. Returns
        ``[]`` for a valid instance; never ``[]`` for an instance :meth:`is_valid`
        rejects.
        """
        found = sorted(self._validator.iter_errors(instance),
                       key=lambda e: [(0, p, "") if isinstance(p, int) else (1, 0, str(p))
                                      for p in e.absolute_path])
        lines = [f"/{'/'.join(str(p) for p in error.absolute_path)}: {error.message}"
                 for error in found]
        if not lines and not self.is_valid(instance):
            lines.append(f"/: {UNEXPLAINED_REJECTION}")
        return lines
