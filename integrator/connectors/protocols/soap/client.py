"""The zeep side of the SOAP connector: parse the WSDL once, bind a port, call operations.

:func:`load_document` parses a WSDL (blocking; the connector runs it in a worker thread)
with hardened settings. :class:`BoundPort` is one service/port of it with its own httpx
client: it names operations (did-you-mean for typos), and :meth:`BoundPort.call`
translates everything zeep and httpx raise into :mod:`integrator.errors` and returns
the answer as plain JSON values (:mod:`.values`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO, Any, cast

import zeep
from zeep import exceptions as zx
from zeep.helpers import serialize_object
from zeep.proxy import AsyncServiceProxy
from zeep.wsdl import Document

from integrator.connectors.protocols.soap.faults import FaultRules, excerpt, fault_error
from integrator.connectors.protocols.soap.guards import public_url
from integrator.connectors.protocols.soap.transport import SoapTransport
from integrator.connectors.protocols.soap.values import json_safe
from integrator.errors import FatalError, IntegratorError, RejectedError, RetriableError
from integrator.flow.suggest import did_you_mean

__all__ = ["BoundPort", "PortChoice", "hardened_settings", "load_document", "select_port"]

_SOAP_BINDINGS = ("Soap11Binding", "Soap12Binding")


def hardened_settings() -> Any:
    """zeep settings for every document and answer: no DTD, no entities, no network
    imports, libxml2's limits on depth and text size left on."""
    return zeep.Settings(strict=True, forbid_dtd=True, forbid_entities=True,
                         forbid_external=True, xml_huge_tree=False)


def load_document(source: str | IO[bytes], transport: SoapTransport, where: str,
                  base: str | None = None) -> Any:
    """Parse a WSDL — a local path, or the downloaded bytes of the URL ``base`` — with
    :func:`hardened_settings`; FatalError (with a hint) for anything wrong. Blocking."""
    hint = "check that wsdl names a WSDL 1.1 document"
    try:
        return Document(source, cast(Any, transport), base=base,
                        settings=hardened_settings())
    except IntegratorError:
        raise
    except zx.ExternalReferenceForbidden as exc:
        raise FatalError(f"{where}: the WSDL imports {exc.url} from the network; network "
                         "imports are refused", hint="save the imported documents next to "
                         "the WSDL and point schemaLocation / location at those files"
                         ) from None
    except (zx.DTDForbidden, zx.EntitiesForbidden) as exc:
        raise FatalError(f"{where}: the WSDL declares a DTD or entities ({exc}); refused",
                         hint="remove the DOCTYPE from the WSDL") from None
    except (zx.XMLSyntaxError, zx.XMLParseError) as exc:
        raise FatalError(f"{where}: the WSDL is not well-formed XML: {exc}",
                         hint=hint) from None
    except zx.Error as exc:
        raise FatalError(f"{where}: the WSDL cannot be used: {type(exc).__name__}: "
                         f"{excerpt(str(exc), 300)}", hint=hint) from None
    except Exception as exc:  # zeep raises many plain types (KeyError, AttributeError,
        # IndexError ...) on broken WSDLs; all mean the same thing here
        raise FatalError(f"{where}: zeep could not read the WSDL: {type(exc).__name__}: "
                         f"{excerpt(str(exc), 300)}", hint=hint) from None


@dataclass(frozen=True)
class PortChoice:
    """The selected service and port, and the address the WSDL gives for it."""

    service: str
    port: str
    binding: Any
    options: Mapping[str, Any]

    @property
    def address(self) -> str | None:
        address = self.options.get("address")
        return str(address) if address else None

    @property
    def operations(self) -> list[str]:
        return sorted(self.binding.all())


def select_port(document: Any, service: str | None, port: str | None,
                where: str) -> PortChoice:
    """The named (or the first) service and its named (or first SOAP) port."""
    services = document.services
    if not services:
        raise FatalError(f"{where}: the WSDL defines no wsdl:service",
                         hint="a WSDL with only bindings needs a service element")
    if service is None:
        svc = next(iter(services.values()))
    elif service in services:
        svc = services[service]
    else:
        raise FatalError(f"{where}: the WSDL has no service {service!r}",
                         hint=did_you_mean(service, services)
                         or f"services: {', '.join(services)}")
    ports = svc.ports
    if port is not None:
        if port not in ports:
            raise FatalError(f"{where}: service {svc.name!r} has no port {port!r}",
                             hint=did_you_mean(port, ports) or f"ports: {', '.join(ports)}")
        chosen = ports[port]
    else:
        soap = [p for p in ports.values() if type(p.binding).__name__ in _SOAP_BINDINGS]
        if not soap:
            raise FatalError(f"{where}: service {svc.name!r} has no SOAP port",
                             hint=f"ports: {', '.join(ports) or 'none'}")
        chosen = soap[0]
    if type(chosen.binding).__name__ not in _SOAP_BINDINGS:
        raise FatalError(f"{where}: port {chosen.name!r} is not a SOAP binding "
                         f"({type(chosen.binding).__name__})",
                         hint="pick a port whose binding is soap or soap12")
    return PortChoice(svc.name, chosen.name, chosen.binding, dict(chosen.binding_options))


def input_names(operation: Any) -> list[str] | None:
    """The argument names an operation takes, or None when zeep cannot tell."""
    try:
        return [name for name, _ in operation.input.body.type.elements]
    except (AttributeError, TypeError, ValueError):
        return None


def _fault_text(value: Any) -> str | None:
    if value is None:
        return None
    if hasattr(value, "tag"):  # an lxml element (the fault's detail)
        from zeep.wsdl.utils import etree_to_string

        return str(etree_to_string(value).decode("utf-8", "replace"))  # type: ignore[no-untyped-call]
    return str(value)


class BoundPort:
    """One port of a parsed WSDL with its own HTTP client; ``aclose`` releases it."""

    def __init__(self, document: Any, choice: PortChoice, endpoint: str,
                 transport: SoapTransport, *, wsse: Any, rules: FaultRules, decimals: str,
                 where: str) -> None:
        self.choice = choice
        self.endpoint = endpoint
        self.transport = transport
        self.rules = rules
        self.decimals = decimals
        self.where = where
        self.client = zeep.AsyncClient(  # type: ignore[no-untyped-call]
            document, wsse=wsse, transport=transport, settings=hardened_settings())
        self.proxy = AsyncServiceProxy(  # type: ignore[no-untyped-call]
            self.client, choice.binding, **{**choice.options, "address": endpoint})

    def operation(self, name: str) -> Any:
        """The operation object; FatalError with a did-you-mean when the port lacks it."""
        operations = self.choice.binding.all()
        if name not in operations:
            raise FatalError(
                f"{self.where}: port {self.choice.port!r} of service "
                f"{self.choice.service!r} has no operation {name!r}",
                hint=did_you_mean(name, operations)
                or f"operations: {', '.join(sorted(operations))}")
        return operations[name]

    def check_arguments(self, operation: str, names: list[str], what: str) -> None:
        """FatalError at open when configured argument names are not the operation's."""
        known = input_names(self.operation(operation))
        if known is None:
            return
        for name in names:
            if name not in known:
                raise FatalError(
                    f"{self.where}: {what} names argument {name!r}, which {operation} "
                    "does not take",
                    hint=did_you_mean(name, known) or f"arguments: {', '.join(known)}")

    def _argument_problem(self, operation: str, arguments: Mapping[str, Any]) -> str | None:
        known = input_names(self.operation(operation))
        if known is None:
            return None
        for name in arguments:
            if name not in known and not name.startswith("_"):  # _soapheaders: zeep's
                close = did_you_mean(name, known)
                return (f"{operation} takes no argument {name!r}"
                        + (f" ({close})" if close else f"; it takes {', '.join(known)}"))
        return None

    async def call(self, operation: str, arguments: Mapping[str, Any]) -> Any:
        """Call ``operation`` with ``arguments``; the answer as JSON values.

        Raises RejectedError (client fault, arguments that do not fit, an answer that
        does not fit the WSDL or is hostile), RetriableError (server fault, network,
        timeouts, 5xx, 429), FatalError (credentials, wrong endpoint, egress refused).
        """
        where = f"{self.where}: {operation} at {public_url(self.endpoint)}"
        context = {"operation": operation, "endpoint": public_url(self.endpoint)}
        problem = self._argument_problem(operation, arguments)
        if problem is not None:
            raise RejectedError(f"{where}: {problem}", context=context,
                                hint="map the message to the operation's arguments")
        try:
            result = await self.proxy[operation](**arguments)
        except IntegratorError:
            raise  # from the transport: already classified, with its place
        except zx.Fault as exc:
            raise fault_error(self.rules, where=where, code=exc.code, string=exc.message,
                              subcodes=[str(s) for s in exc.subcodes or ()],
                              detail=_fault_text(exc.detail), context=context) from None
        except zx.ValidationError as exc:
            raise RejectedError(f"{where}: the arguments do not fit the operation: {exc}",
                                hint=self._signature_hint(operation), context=context
                                ) from None
        except TypeError as exc:
            raise RejectedError(f"{where}: the arguments do not fit the operation: "
                                f"{excerpt(str(exc), 300)}",
                                hint=self._signature_hint(operation), context=context
                                ) from None
        except zx.TransportError as exc:
            status = int(exc.status_code or 0)
            cls: type[IntegratorError] = RetriableError if status >= 500 else RejectedError
            raise cls(f"{where}: answered {status or 'an unreadable answer'}: "
                      f"{excerpt(exc.message, 300)}", context={**context, "status": status}
                      ) from None
        except (zx.DTDForbidden, zx.EntitiesForbidden, zx.ExternalReferenceForbidden) as exc:
            raise RejectedError(f"{where}: the answer was refused: {exc}",
                                hint="the service sent a DTD or an external reference",
                                context=context) from None
        except zx.Error as exc:
            raise RejectedError(f"{where}: the answer does not match the WSDL: "
                                f"{type(exc).__name__}: {excerpt(str(exc), 300)}",
                                hint="the service and the WSDL disagree; check the WSDL "
                                     "version", context=context) from None
        except (ValueError, AttributeError, KeyError, IndexError) as exc:
            raise RejectedError(f"{where}: zeep could not build the request or read the "
                                f"answer: {type(exc).__name__}: {excerpt(str(exc), 300)}",
                                hint=self._signature_hint(operation), context=context
                                ) from None
        try:
            plain = serialize_object(result, dict)  # type: ignore[no-untyped-call]
            return json_safe(plain, decimals=self.decimals)
        except ValueError as exc:
            raise RejectedError(f"{where}: the answer cannot be converted: {exc}",
                                context=context) from None

    def _signature_hint(self, operation: str) -> str:
        try:
            signature = self.operation(operation).input.signature()
        except (AttributeError, TypeError, ValueError, FatalError):
            return "check the operation's arguments in the WSDL"
        return f"{operation} takes ({excerpt(str(signature), 300)})"

    async def aclose(self) -> None:
        await self.transport.aclose()
