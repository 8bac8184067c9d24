"""Safe YAML: plain data only, duplicate keys, bounded aliases and size, positions."""

from __future__ import annotations

import time

from integrator.flow.yaml_loader import load_yaml


def codes(result) -> list[str]:
    return [p.code for p in result.problems]


def test_plain_data_with_positions() -> None:
    r = load_yaml("flow: x\nsteps:\n  - map: {as: a}\n", "f.yaml")
    assert r.data == {"flow": "x", "steps": [{"map": {"as": "a"}}]}
    mark = r.positions.value(("steps", 0, "map", "as"))
    assert (mark.line, mark.col) == (3, 15)
    key = r.positions.key(("steps",))
    assert (key.line, key.col) == (2, 1)


def test_object_tags_are_refused_with_their_place() -> None:
    r = load_yaml("a: !!python/object/apply:os.system ['id']\nb: !custom 1\n", "f.yaml")
    assert codes(r) == ["forbidden-tag", "forbidden-tag"]
    assert [(p.line, p.col) for p in r.problems] == [(1, 4), (2, 4)]
    assert r.data == {"a": None, "b": None}


def test_every_duplicate_key_is_reported() -> None:
    r = load_yaml("a: 1\nb: 2\na: 3\nb: 4\n", "f.yaml")
    assert codes(r) == ["duplicate-key", "duplicate-key"]
    assert r.problems[0].line == 3
    assert "first defined at line 1" in (r.problems[0].hint or "")
    assert r.data == {"a": 1, "b": 2}


def test_alias_bomb_is_refused_fast() -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 9):
        prev, cur = chr(96 + i), chr(97 + i)
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    started = time.perf_counter()
    r = load_yaml("\n".join(lines) + "\n", "bomb.yaml")
    assert time.perf_counter() - started < 5  # bounded, not a timing benchmark
    assert codes(r) == ["document-too-large"]
    assert r.data is None


def test_oversized_document_is_refused_before_parsing() -> None:
    r = load_yaml("a: " + "x" * 2_000_000 + "\n", "big.yaml")
    assert codes(r) == ["document-too-large"]
    assert "1,000,000" in r.problems[0].message


def test_timestamps_stay_text_and_merge_keys_work() -> None:
    r = load_yaml("d: 2026-01-01\nbase: &b {x: 1, y: 2}\nc: {<<: *b, y: 3}\n", "f.yaml")
    assert r.data["d"] == "2026-01-01"
    assert r.data["c"] == {"x": 1, "y": 3}


def test_syntax_error_has_a_place() -> None:
    r = load_yaml("a: [1, 2\nb: 3\n", "f.yaml")
    assert codes(r) == ["yaml-syntax"]
    assert r.problems[0].line >= 1 and r.problems[0].col >= 1


def test_empty_document() -> None:
    assert codes(load_yaml("", "f.yaml")) == ["empty-document"]


def test_complex_keys_are_refused() -> None:
    r = load_yaml("? [a, b]\n: 1\nc: 2\n", "f.yaml")
    assert codes(r) == ["invalid-key"]
    assert r.data == {"c": 2}
