"""``${env:NAME}``, ``${env:NAME:-default}`` and ``${secret:NAME}`` references.

References may appear in any string of a flow. Rules:

* ``${env:NAME}`` is replaced by the environment variable; with ``:-default`` the default
  is used when the variable is unset. When a whole value is one env reference, the result
  is typed like a YAML scalar (``"8080"`` → 8080, ``"true"`` → true).
* ``${secret:NAME}`` is looked up in the secrets file (``--secrets``), then in the
  environment. A string holding a secret reference becomes a :class:`Secret`: it is never
  printed, logged or rendered (``integrator render`` shows ``********``).
* ``$${`` writes a literal ``${``.

Unset references without a default are reported as problems (``unset-env``,
``unset-secret``) with their place; ``--skip-env-check`` leaves them in place for lint.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from integrator.errors import FatalError
from integrator.flow.problems import Problem
from integrator.flow.yaml_loader import Positions
from integrator.security.secrets import MASK, Redactor, Secret

__all__ = ["Resolver", "SecretStore", "load_secrets_file"]

_REF = re.compile(r"\$\$\{|\$\{(env|secret):([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_MALFORMED = re.compile(r"(?<!\$)\$\{(?!(?:env|secret):[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\})")


def load_secrets_file(path: Path) -> dict[str, str]:
    """Read ``NAME=value`` lines (dotenv style) or a YAML mapping of names to strings."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise FatalError(f"cannot read secrets file {path}: {exc.strerror}") from exc
    if path.suffix in (".yaml", ".yml"):
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise FatalError(f"secrets file {path} is not valid YAML") from exc
        if not isinstance(data, dict):
            raise FatalError(f"secrets file {path} must hold a mapping of names to values")
        return {str(k): str(v) for k, v in data.items()}
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep:
            raise FatalError(f"{path}:{number}: expected NAME=value")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[name.strip().removeprefix("export ").strip()] = value
    return values


@dataclass
class SecretStore:
    """Secret values by name: the secrets file first, then the environment."""

    file_values: Mapping[str, str] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=lambda: os.environ)

    def get(self, name: str) -> str | None:
        if name in self.file_values:
            return self.file_values[name]
        return self.env.get(name)


@dataclass
class Resolver:
    """Resolves references in a loaded flow document, collecting problems."""

    file: str
    positions: Positions
    env: Mapping[str, str]
    secrets: SecretStore
    redactor: Redactor
    check: bool = True
    mask_secrets: bool = False
    problems: list[Problem] = field(default_factory=list)
    secret_paths: list[tuple[str | int, ...]] = field(default_factory=list)

    def resolve(self, value: Any, path: tuple[str | int, ...] = ()) -> Any:
        if isinstance(value, str):
            return self._string(value, path) if "${" in value else value
        if isinstance(value, dict):
            return {k: self.resolve(v, (*path, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v, (*path, i)) for i, v in enumerate(value)]
        return value

    def _problem(self, code: str, message: str, path: tuple[str | int, ...],
                 hint: str) -> None:
        mark = self.positions.value(path)
        line, col = (mark.line, mark.col) if mark else (0, 0)
        self.problems.append(Problem(code, message, self.file, line, col, hint, path=path))

    def _string(self, text: str, path: tuple[str | int, ...]) -> Any:
        bad = _MALFORMED.search(text)
        if bad:
            self._problem(
                "bad-reference", f"malformed reference in {text!r}", path,
                "write ${env:NAME}, ${env:NAME:-default} or ${secret:NAME}; "
                "$${ gives a literal ${",
            )
            return text
        secret_names: list[str] = []
        unresolved = False

        def substitute(m: re.Match[str]) -> str:
            nonlocal unresolved
            if m.group(0) == "$${":
                return "${"
            kind, name, default = m.group(1), m.group(2), m.group(3)
            if kind == "env":
                value = self.env.get(name)
                if value is None:
                    if default is not None:
                        return default
                    unresolved = True
                    if self.check:
                        self._problem(
                            "unset-env", f"environment variable {name} is not set", path,
                            f"export {name}=..., or give a default: ${{env:{name}:-value}}",
                        )
                    return m.group(0)
                return value
            secret_names.append(name)
            value = self.secrets.get(name)
            if value is None:
                unresolved = True
                if self.check:
                    self._problem(
                        "unset-secret", f"secret {name} is not set", path,
                        f"put {name}=... in the secrets file (--secrets), or export {name}",
                    )
                return m.group(0)
            return value

        result = _REF.sub(substitute, text)
        whole_env = _REF.fullmatch(text) is not None and text.startswith("${env:")
        if secret_names:
            self.secret_paths.append(path)
            if self.mask_secrets:
                return MASK
            if unresolved:
                return result
            return Secret(result, "+".join(secret_names), self.redactor)
        if whole_env and not unresolved:
            return _scalar(result)
        return result


def _scalar(text: str) -> Any:
    """Type a substituted value the way YAML would type a plain scalar."""
    if text == "":
        return text
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if isinstance(value, str | int | float | bool) and not isinstance(value, dict | list):
        return value
    return text
