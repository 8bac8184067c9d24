"""XML ⇄ dict (xmltodict conventions), hardened against hostile input.

Reading (:func:`parse_xml`) follows xmltodict's mapping: attributes become ``@name``
keys, text next to attributes or children goes under ``#text``, repeated children become
lists (``force_list`` makes chosen names lists always), comments are dropped.

What hostile input gets, before any work is done on it:

* a ``<!DOCTYPE ...>`` of any kind — refused when expat reports its start, before its
  internal subset is read: no entity is ever declared (billion laughs), no external
  DTD or entity is ever fetched (XXE: no file read, no network access);
* entity declarations and external entity references — refused (belt and braces:
  they cannot occur without a DOCTYPE);
* more than ``max_bytes`` of input (default 10 MB) — refused without parsing;
* elements nested deeper than ``max_depth`` (default 100) — refused at that element.

Every refusal and every malformed document raises
:class:`~integrator.errors.DecodeError` with ``line`` and ``column`` in its context.

Writing (:func:`to_xml`) is xmltodict's ``unparse`` with checks: the value must have
exactly one top-level key unless ``root`` names the wrapping element, element names must
be XML names, and text must not contain characters XML 1.0 cannot carry (NUL, most
control characters); otherwise :class:`~integrator.errors.ConversionError`.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Collection, Mapping
from typing import Any, NoReturn
from xml.parsers import expat

import xmltodict

from integrator.errors import ConversionError, DecodeError

__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_MAX_DEPTH", "parse_xml", "to_xml", "xml_encoding_name"]

DEFAULT_MAX_BYTES = 10_000_000
DEFAULT_MAX_DEPTH = 100


class _Refused(Exception):
    """Raised inside expat callbacks; carries the reason and a hint out of the parser."""

    def __init__(self, reason: str, hint: str) -> None:
        super().__init__(reason)
        self.hint = hint


_NO_DTD_HINT = ("the document must not declare a DOCTYPE or entities; ask the producer for "
                "plain XML")


class _GuardedParser:
    """An expat parser as xmltodict sees it, with the hardening handlers pinned.

    xmltodict assigns its handlers as attributes; this proxy forwards them to the real
    parser, except that it wraps the start/end element handlers to count depth and keeps
    its own refusing handlers for DOCTYPEs and entities whatever xmltodict sets.
    """

    _PINNED = frozenset({
        "StartDoctypeDeclHandler", "EntityDeclHandler", "UnparsedEntityDeclHandler",
        "ExternalEntityRefHandler", "NotationDeclHandler",
    })

    def __init__(self, parser: Any, max_depth: int) -> None:
        object.__setattr__(self, "_parser", parser)
        object.__setattr__(self, "_max_depth", max_depth)
        object.__setattr__(self, "_depth", 0)
        object.__setattr__(self, "_start", None)
        object.__setattr__(self, "_end", None)
        parser.StartDoctypeDeclHandler = self._refuse_doctype
        parser.EntityDeclHandler = self._refuse_entity
        parser.UnparsedEntityDeclHandler = self._refuse_entity
        parser.NotationDeclHandler = self._refuse_entity
        parser.ExternalEntityRefHandler = self._refuse_external
        parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._parser, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "StartElementHandler":
            object.__setattr__(self, "_start", value)
            self._parser.StartElementHandler = self._on_start
        elif name == "EndElementHandler":
            object.__setattr__(self, "_end", value)
            self._parser.EndElementHandler = self._on_end
        elif name not in self._PINNED:
            setattr(self._parser, name, value)

    def _on_start(self, name: str, attrs: Any) -> None:
        depth = self._depth + 1
        if depth > self._max_depth:
            raise _Refused(
                f"elements are nested deeper than max_depth {self._max_depth}",
                "raise max_depth only if documents this deep are expected",
            )
        object.__setattr__(self, "_depth", depth)
        start: Callable[[str, Any], None] = self._start
        start(name, attrs)

    def _on_end(self, name: str) -> None:
        object.__setattr__(self, "_depth", self._depth - 1)
        end: Callable[[str], None] = self._end
        end(name)

    @staticmethod
    def _refuse_doctype(*_args: Any) -> NoReturn:
        raise _Refused("a DOCTYPE declaration is not allowed (DTDs and entities are refused)",
                       _NO_DTD_HINT)

    @staticmethod
    def _refuse_entity(*_args: Any) -> NoReturn:
        raise _Refused("entity and notation declarations are not allowed", _NO_DTD_HINT)

    @staticmethod
    def _refuse_external(*_args: Any) -> NoReturn:
        raise _Refused("external entity references are not allowed", _NO_DTD_HINT)


class _GuardedExpat:
    """Stands in for the ``expat`` module that xmltodict calls ``ParserCreate`` on."""

    def __init__(self, max_depth: int) -> None:
        self.max_depth = max_depth
        self.parser: _GuardedParser | None = None

    def ParserCreate(  # the name xmltodict calls
        self, encoding: str | None = None, namespace_separator: str | None = None
    ) -> _GuardedParser:
        self.parser = _GuardedParser(
            expat.ParserCreate(encoding, namespace_separator), self.max_depth
        )
        return self.parser


def parse_xml(
    data: bytes | str,
    *,
    force_list: Collection[str] = (),
    attr_prefix: str = "@",
    cdata_key: str = "#text",
    strip_namespaces: bool = False,
    namespaces: Mapping[str, str] | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
    where: str = "",
    encoding: str | None = None,
) -> dict[str, Any]:
    """Parse one XML document into a dict ``{root_name: content}``.

    Bytes are decoded as their XML declaration says (UTF-8 without one) unless
    ``encoding`` overrides it — for legacy exports that declare nothing or lie.

    ``strip_namespaces`` drops namespace prefixes and ``xmlns`` attributes (``ns:Order`` →
    ``Order``); ``namespaces`` maps namespace URIs to the prefixes to use instead (an
    empty prefix strips that namespace). ``where`` (a file name) prefixes error messages.
    Raises DecodeError for malformed, oversized, too deep or refused documents.
    """
    prefix = f"{where}: " if where else ""
    if isinstance(data, str):
        # text is parsed as UTF-8 whatever its declaration says: it is already decoded
        encoding = "utf-8"
        try:
            data = data.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise DecodeError(
                f"{prefix}the XML text holds an unpaired surrogate at offset {exc.start}",
                context=_where(where, None, None),
            ) from None
    elif encoding is not None and encoding.lower().replace("_", "-") in ("utf-8-sig", "utf8-sig"):
        encoding = "utf-8"  # expat skips a byte-order mark by itself
    size = len(data)
    if size > max_bytes:
        raise DecodeError(
            f"{prefix}the XML document is {size} bytes; the limit is {max_bytes}",
            hint="raise max_record_size if documents this large are expected",
            context=_where(where, None, None),
        )
    guarded = _GuardedExpat(max_depth)
    kwargs: dict[str, Any] = {
        "attr_prefix": attr_prefix,
        "cdata_key": cdata_key,
        "force_list": tuple(force_list) or None,
        "disable_entities": True,
    }
    if strip_namespaces or namespaces is not None:
        kwargs["process_namespaces"] = True
        table: dict[str, str] = defaultdict(str) if strip_namespaces else {}
        table.update(namespaces or {})
        kwargs["namespaces"] = table
        if strip_namespaces:
            xmlns = f"{attr_prefix}xmlns"

            def drop_xmlns(_path: Any, key: str, value: Any) -> tuple[str, Any] | None:
                return None if key == xmlns else (key, value)

            kwargs["postprocessor"] = drop_xmlns
    try:
        result = xmltodict.parse(data, encoding=encoding, expat=guarded, **kwargs)
    except _Refused as exc:
        line, column = _position(guarded)
        raise DecodeError(
            f"{prefix}XML refused at line {line} column {column}: {exc}",
            hint=exc.hint,
            context=_where(where, line, column),
        ) from None
    except expat.ExpatError as exc:
        line, column = exc.lineno, exc.offset + 1
        reason = expat.errors.messages[exc.code]
        raise DecodeError(
            f"{prefix}malformed XML at line {line} column {column}: {reason}",
            context=_where(where, line, column),
        ) from None
    except ValueError as exc:  # xmltodict's own entity refusal, should ours be bypassed
        line, column = _position(guarded)
        raise DecodeError(
            f"{prefix}XML refused at line {line} column {column}: {exc}",
            context=_where(where, line, column),
        ) from None
    if not isinstance(result, dict):
        raise DecodeError(f"{prefix}the XML document has no root element",
                          context=_where(where, None, None))
    return result


def _position(guarded: _GuardedExpat) -> tuple[int, int]:
    parser = guarded.parser
    if parser is None:
        return 1, 1
    return parser.CurrentLineNumber, parser.CurrentColumnNumber + 1


def _where(file: str, line: int | None, column: int | None) -> dict[str, Any]:
    context: dict[str, Any] = {}
    if file:
        context["file"] = file
    if line is not None:
        context["line"] = line
        context["column"] = column
    return context


# XML 1.0 "Char": everything except these (C0 controls but tab/LF/CR, surrogates,
# U+FFFE/U+FFFF). Checked on the output, so attribute values and text are both covered.
_ILLEGAL_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# A conservative XML Name (optionally prefixed): letters, digits, _ . - after the first.
_NAME = re.compile(r"^[^\W\d][\w.\-]*(:[^\W\d][\w.\-]*)?$")


def to_xml(
    value: Mapping[str, Any],
    *,
    root: str | None = None,
    pretty: bool = False,
    attr_prefix: str = "@",
    cdata_key: str = "#text",
    declaration: bool = True,
    encoding: str = "utf-8",
) -> str:
    """Render ``value`` as an XML document (the reverse of :func:`parse_xml`).

    Without ``root`` the value must be a mapping with exactly one key, the root element.
    With ``root`` the value becomes the content of a ``<root>`` element. ``encoding``
    only names the encoding in the declaration; encoding the text is the caller's job.
    ``None`` becomes an empty element, booleans ``true``/``false``. Raises
    ConversionError when the value cannot be XML.
    """
    if root is not None:
        if not _NAME.match(root):
            raise ConversionError(f"{root!r} is not a valid XML element name")
        if not isinstance(value, Mapping | str | int | float | bool) and value is not None:
            raise ConversionError(
                f"cannot write {type(value).__name__} as the content of <{root}>: "
                "its items need an element name",
                hint=f"give the items a name, e.g. {{\"Item\": [...]}} inside <{root}>",
            )
        document: Any = {root: value}
    else:
        document = value
    if not isinstance(document, Mapping):
        raise ConversionError(
            f"cannot write {type(value).__name__} as XML: a document needs one root element",
            hint="set root: to name the element that wraps it",
        )
    keys = [k for k in document if k != "#comment"]
    if len(keys) != 1:
        raise ConversionError(
            f"cannot write XML: the value has {len(keys)} top-level keys "
            f"({', '.join(map(str, keys[:5]))}); a document has exactly one root element",
            hint="set root: to name the element that wraps them",
        )

    def check_name(key: Any, item: Any) -> tuple[Any, Any]:
        if not isinstance(key, str) or not _NAME.match(key):
            raise ConversionError(f"{key!r} is not a valid XML element name",
                                  hint="rename the field in a map step")
        if isinstance(item, Mapping):
            for sub in item:
                if not isinstance(sub, str):
                    raise ConversionError(f"{sub!r} is not a valid XML element name")
        return key, item

    try:
        out: str = xmltodict.unparse(
            dict(document),
            pretty=pretty,
            indent="  ",
            attr_prefix=attr_prefix,
            cdata_key=cdata_key,
            full_document=False,
            preprocessor=check_name,
            short_empty_elements=True,
        )
    except (ValueError, TypeError, AttributeError) as exc:
        raise ConversionError(f"cannot write XML: {exc}") from None
    bad = _ILLEGAL_CHARS.search(out)
    if bad:
        raise ConversionError(
            f"cannot write XML: the value contains U+{ord(bad.group()):04X}, "
            "a character XML 1.0 cannot carry",
            hint="remove control characters in a map step",
        )
    if declaration:
        out = f'<?xml version="1.0" encoding="{xml_encoding_name(encoding)}"?>\n{out}'
    return out


def xml_encoding_name(encoding: str) -> str:
    """The IANA name XML declarations use: ``cp1250`` → ``windows-1250``,
    ``iso8859-2`` → ``ISO-8859-2``, ``utf-8-sig`` → ``UTF-8``."""
    name = encoding.lower().replace("_", "-")
    if name in ("utf-8", "utf8", "utf-8-sig"):
        return "UTF-8"
    if name.startswith(("iso8859-", "iso-8859-", "latin-1", "latin1")):
        return "ISO-8859-" + (name.rsplit("-", 1)[1] if "8859" in name else "1")
    if name.startswith("cp125") and name[2:].isdigit():
        return f"windows-{name[2:]}"
    return encoding.upper()
