"""The peer a connector talks to in a conformance test, as the suite sees it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["Peer"]


class Peer:
    """A running peer (server, broker, database, folder) and how to reach it.

    The conformance suite builds the connection from ``config``, a source from
    ``source_options``, a sink for ``sink_action`` (default: the connector's
    ``default_action``) from ``sink_options``, and a lookup from ``lookup_options``.
    Connections are built *after* ``seed`` returns, so a peer may read what was seeded
    when the suite asks for ``config``.

    Override what the roles under test need:

    * ``seed(records)`` — put records where the source reads them (and where the lookup
      finds them); may be called more than once, each call adds records after the
      earlier ones.
    * ``written()`` — the payloads the sink applied, in the order applied. Called after
      the sink was closed.
    * ``restart()`` — stop the peer and start it again on the same address, keeping its
      data (a broker restart, a server restart); nothing for in-process peers.
    * ``close()`` — stop everything the peer started and clean up.
    * ``matches(expected, actual)`` — whether a record read back (from the source, from
      ``written()``, from a lookup) is the one sent: override when the peer changes
      types (CSV gives text) or adds fields (a table's generated id).

    Attributes:
        config: the connection block, as in a flow (without ``type``).
        source_options / sink_options / lookup_options: the role blocks.
        sink_action: the action to exercise, or None for the default action.
        lookup_key: the record field the lookup indexes (``lookup_options`` say so).
        meta_keys: keys every source record's ``meta`` must carry.
        resources: put into ``Runtime.resources`` (in-process peers share objects).
        bad_payload: a payload the sink must refuse permanently, or None to skip that
            check.
    """

    def __init__(
        self,
        config: Mapping[str, Any] | None = None,
        *,
        source_options: Mapping[str, Any] | None = None,
        sink_options: Mapping[str, Any] | None = None,
        sink_action: str | None = None,
        lookup_options: Mapping[str, Any] | None = None,
        lookup_key: str = "id",
        meta_keys: Sequence[str] = (),
        resources: dict[str, Any] | None = None,
        bad_payload: Any = None,
    ) -> None:
        self.config: dict[str, Any] = dict(config or {})
        self.source_options: dict[str, Any] = dict(source_options or {})
        self.sink_options: dict[str, Any] = dict(sink_options or {})
        self.sink_action = sink_action
        self.lookup_options: dict[str, Any] = dict(lookup_options or {})
        self.lookup_key = lookup_key
        self.meta_keys = tuple(meta_keys)
        self.resources: dict[str, Any] = resources if resources is not None else {}
        self.bad_payload = bad_payload

    async def seed(self, records: Sequence[Mapping[str, Any]]) -> None:
        raise NotImplementedError(f"{type(self).__name__} cannot seed records: override "
                                  "seed() to test the source and lookup roles")

    async def written(self) -> list[Any]:
        raise NotImplementedError(f"{type(self).__name__} cannot tell what was written: "
                                  "override written() to test the sink role")

    async def restart(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def matches(self, expected: Any, actual: Any) -> bool:
        return bool(expected == actual)
