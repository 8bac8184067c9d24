"""Lint: every problem of a file, with its code and place; a clean flow has none."""

from __future__ import annotations

from support import problems_of

GOOD = """\
flow: good
connections:
  src: {type: memory, records: [{id: 1}]}
  out: {type: memory}
source: {connection: src}
steps:
  - map: {fields: {x: id}}
  - deliver: [all]
sinks:
  all: {connection: out}
"""

BAD = """\
flow: Bad Name
connections:
  src: {type: memry}
  out: {type: memory, chanel: x}
keys: {order: "id.["}
source: {connection: srcc}
steps:
  - mapp: {fields: {a: b}}
  - map:
      as: doc
      fields:
        a: "foo(bar)"
        b: {template: "{{ x }"}
        c: "length(a, b)"
  - route:
      - when: "market == 'PL'"
        to: [pl, nowhere]
      - otherwise: [pl]
  - filter: "x"
sinks:
  pl: {connection: out, body: dco, action: wirte}
  pl: {connection: out}
"""


def test_clean_flow_has_no_problems() -> None:
    assert problems_of(GOOD) == []


def test_all_mistakes_are_reported_with_places() -> None:
    found = {(p.code, p.line, p.col) for p in problems_of(BAD) if p.is_error}
    expected = {
        ("invalid-value", 1, 7),          # flow name pattern
        ("unknown-connector", 3, 15),     # memry
        ("invalid-option", 4, 23),        # chanel
        ("expression-syntax", 5, 20),     # id.[ — at the end of the expression
        ("undefined-connection", 6, 22),  # srcc
        ("unknown-step-kind", 8, 5),      # mapp
        ("unknown-function", 12, 13),     # foo()
        ("template-syntax", 13, 29),
        ("invalid-arity", 14, 13),        # length(a, b)
        ("undefined-target", 17, 18),     # nowhere
        ("no-delivery", 19, 5),
        ("unreachable-step", 19, 5),
        ("undefined-document", 21, 31),   # body: dco
        ("unknown-action", 21, 44),       # wirte
        ("duplicate-key", 22, 3),
    }
    assert expected <= found, sorted(expected - found)


def test_hints_suggest_the_right_names() -> None:
    hints = {p.code: p.hint for p in problems_of(BAD)}
    assert "'memory'" in (hints["unknown-connector"] or "")
    assert "'channel'" in (hints["invalid-option"] or "")
    assert "'src'" in (hints["undefined-connection"] or "")
    assert "'map'" in (hints["unknown-step-kind"] or "")
    assert "'floor'" in (hints["unknown-function"] or "")
    assert "'write'" in (hints["unknown-action"] or "")
    assert "'doc'" in (hints["undefined-document"] or "")


def test_cycles_are_found() -> None:
    text = """\
    flow: cyc
    connections:
      src: {type: memory}
      out: {type: memory}
    source: {connection: src}
    steps:
      - id: a
        map: {fields: {x: id}}
      - route:
          - when: "x"
            to: [a]
          - otherwise: [sink]
    sinks:
      sink: {connection: out}
    """
    codes = [p.code for p in problems_of(text)]
    assert "cycle" in codes


def test_branches_by_step_id_are_reachable() -> None:
    text = """\
    flow: branches
    connections:
      src: {type: memory}
      out: {type: memory}
    source: {connection: src}
    steps:
      - route:
          - when: "a"
            to: [left]
          - otherwise: [right]
      - id: left
        deliver: [sink]
      - id: right
        set: {fields: {side: {const: right}}}
      - deliver: [sink]
    sinks:
      sink: {connection: out}
    """
    assert problems_of(text) == []


def test_unset_env_and_unused_things() -> None:
    text = """\
    flow: env
    connections:
      src: {type: memory, channel: "${env:CHANNEL}"}
      spare: {type: memory}
      out: {type: memory}
    source: {connection: src}
    steps:
      - deliver: [a]
    sinks:
      a: {connection: out}
      b: {connection: out}
    """
    problems = problems_of(text)
    assert [(p.code, p.severity) for p in problems] == [
        ("unset-env", "error"),
        ("unused-connection", "warning"),
        ("unused-sink", "warning"),
    ]
    assert problems_of(text, env={"CHANNEL": "c"})[0].code == "unused-connection"


def test_step_option_errors_are_precise() -> None:
    text = """\
    flow: opts
    connections:
      src: {type: memory}
      out: {type: memory}
    source: {connection: src}
    steps:
      - map: {fields: {x: id}, ass: y}
      - filter: 3
      - split: {paht: items}
      - id: Bad Id
        deliver: [s]
    sinks:
      s: {connection: out, concurrency: 0}
    """
    problems = [(p.code, p.line, p.message) for p in problems_of(text) if p.is_error]
    codes = [(c, line) for c, line, _ in problems]
    assert ("unknown-key", 7) in codes
    assert any(c == "invalid-value" and line == 8 for c, line in codes)
    assert any(line == 9 for _, line in codes)
    assert any(c == "invalid-value" and line == 10 for c, line in codes)
    assert any(line == 13 for _, line in codes)


def test_value_spec_mistakes() -> None:
    text = """\
    flow: values
    connections:
      src: {type: memory}
      out: {type: memory}
    source: {connection: src}
    steps:
      - map:
          fields:
            a: {const: 1, extra: 2}
            b: {expr: 3}
            c: {nested: {deep: "a.["}}
      - deliver: [s]
    sinks:
      s: {connection: out}
    """
    problems = [(p.code, p.line) for p in problems_of(text) if p.is_error]
    assert ("invalid-value", 9) in problems
    assert ("invalid-value", 10) in problems
    assert ("expression-syntax", 11) in problems


def test_validate_schema_file_problems(tmp_path) -> None:
    (tmp_path / "bad.json").write_text("{not json", encoding="utf-8")
    (tmp_path / "wrong.json").write_text('{"type": 12}', encoding="utf-8")
    text = """\
    flow: schemas
    connections:
      src: {type: memory}
      out: {type: memory}
    source: {connection: src}
    steps:
      - validate: {schema: missing.json}
      - validate: {schema: bad.json}
      - validate: {schema: wrong.json}
      - deliver: [s]
    sinks:
      s: {connection: out}
    """
    codes = [(p.code, p.line) for p in problems_of(text, workdir=tmp_path)]
    assert codes == [("file-not-found", 7), ("invalid-schema", 8), ("invalid-schema", 9)]


def test_per_request_actions_get_one_delivery_per_write() -> None:
    from support import compile_flow

    flow = compile_flow("""\
    flow: caps
    connections:
      src: {type: memory}
      api: {type: http, base_url: "https://api.example.com"}
      out: {type: memory}
    source: {connection: src}
    steps:
      - deliver: [one_by_one, many]
    sinks:
      one_by_one: {connection: api, action: request, concurrency: 8, batch_size: 500}
      many: {connection: out, batch_size: 500}
    """)
    assert flow.sinks["one_by_one"].batch_size == 1  # http request: max_batch 1
    assert flow.sinks["many"].batch_size == 500
