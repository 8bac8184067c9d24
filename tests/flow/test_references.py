"""${env:...}, ${secret:...}: resolution, typing, masking, and problems when unset."""

from __future__ import annotations

from pathlib import Path

import pytest

from integrator.errors import FatalError
from integrator.flow.references import Resolver, SecretStore, load_secrets_file
from integrator.flow.yaml_loader import load_yaml
from integrator.security.secrets import MASK, Redactor, Secret


def resolve(text: str, env: dict[str, str], secrets: dict[str, str] | None = None,
            **kw):
    loaded = load_yaml(text, "f.yaml")
    redactor = Redactor()
    r = Resolver("f.yaml", loaded.positions, env, SecretStore(secrets or {}, env), redactor,
                 **kw)
    return r.resolve(loaded.data), r.problems, redactor


def test_env_with_default_and_typing() -> None:
    data, problems, _ = resolve(
        "a: ${env:HOST}\nb: ${env:PORT}\nc: http://${env:HOST}:${env:PORT}/x\n"
        "d: ${env:MISSING:-fallback}\ne: ${env:FLAG}\n",
        {"HOST": "erp.local", "PORT": "8080", "FLAG": "true"})
    assert problems == []
    assert data == {"a": "erp.local", "b": 8080, "c": "http://erp.local:8080/x",
                    "d": "fallback", "e": True}


def test_unset_env_is_a_problem_at_its_place() -> None:
    _, problems, _ = resolve("x: 1\ny: ${env:NOPE}\n", {})
    assert [(p.code, p.line, p.col) for p in problems] == [("unset-env", 2, 4)]
    assert "NOPE" in problems[0].message


def test_skip_env_check_leaves_reference() -> None:
    data, problems, _ = resolve("y: ${env:NOPE}\n", {}, check=False)
    assert problems == [] and data == {"y": "${env:NOPE}"}


def test_secret_becomes_a_secret_and_is_registered_for_redaction() -> None:
    data, problems, redactor = resolve("auth: Bearer ${secret:TOKEN}\n", {},
                                       {"TOKEN": "s3cr3t-value"})
    assert problems == []
    secret = data["auth"]
    assert isinstance(secret, Secret)
    assert secret.reveal() == "Bearer s3cr3t-value"
    assert "s3cr3t" not in repr(secret) and "s3cr3t" not in str(secret)
    assert "s3cr3t" not in f"{secret}"
    assert redactor("error: Bearer s3cr3t-value rejected") == f"error: {MASK} rejected"


def test_secret_from_environment_when_not_in_file() -> None:
    data, _, _ = resolve("k: ${secret:API_KEY}\n", {"API_KEY": "from-env-123"})
    assert data["k"].reveal() == "from-env-123"


def test_masked_rendering() -> None:
    data, _, _ = resolve("k: ${secret:API_KEY}\n", {"API_KEY": "abcd1234"},
                         mask_secrets=True)
    assert data == {"k": MASK}


def test_unset_secret_and_malformed_reference() -> None:
    _, problems, _ = resolve("a: ${secret:NOPE}\nb: ${envv:X}\n", {})
    assert [p.code for p in problems] == ["unset-secret", "bad-reference"]


def test_escape() -> None:
    data, problems, _ = resolve("a: cost $${env:X}\n", {})
    assert problems == [] and data == {"a": "cost ${env:X}"}


def test_secrets_file_formats(tmp_path: Path) -> None:
    env_file = tmp_path / "secrets.env"
    env_file.write_text("# comment\nexport A=1\nB='two words'\n", encoding="utf-8")
    assert load_secrets_file(env_file) == {"A": "1", "B": "two words"}
    yaml_file = tmp_path / "secrets.yaml"
    yaml_file.write_text("A: x\nB: 2\n", encoding="utf-8")
    assert load_secrets_file(yaml_file) == {"A": "x", "B": "2"}
    bad = tmp_path / "bad.env"
    bad.write_text("no equals sign\n", encoding="utf-8")
    with pytest.raises(FatalError, match=r"bad\.env:1"):
        load_secrets_file(bad)


def test_secret_cannot_be_pickled() -> None:
    import pickle

    with pytest.raises(TypeError):
        pickle.dumps(Secret("value-1234", "X"))
