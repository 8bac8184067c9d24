"""The ``soap`` connector (zeep): see :mod:`.connector` for its datasheet.

Only :mod:`.connector` is imported here, so the spec loads without zeep; the modules
that import zeep and httpx (:mod:`.client`, :mod:`.transport`, :mod:`.guards`,
:mod:`.auth`) load when a role opens.
"""

from __future__ import annotations

from integrator.connectors.protocols.soap.connector import SoapConnector
from integrator.connectors.protocols.soap.roles import SoapLookup, SoapSink

__all__ = ["SoapConnector", "SoapLookup", "SoapSink"]
