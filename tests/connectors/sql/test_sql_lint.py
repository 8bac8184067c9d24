"""Lint catches the SQL options that only make sense together, before anything runs."""

from __future__ import annotations

from support import problems_of

FLOW = """\
flow: sqlbad
connections:
  db: {type: sql, url: "sqlite:///unused.db"}
  out: {type: memory}
source: {connection: db, options: {follow: true, table: orders}}
steps:
  - enrich: {connection: db, options: {table: products}, key: id, into: product}
  - deliver: [s]
sinks: {s: {connection: out}}
"""


def test_source_and_lookup_option_combinations_are_linted() -> None:
    found = [(p.code, p.line, p.message) for p in problems_of(FLOW) if p.is_error]
    assert [(c, line) for c, line, _ in found] == [("invalid-option", 5),
                                                   ("invalid-option", 7)]
    assert "follow needs watermark_column" in found[0][2]
    assert "table needs key_column" in found[1][2]
