"""integrator: declarative system integration.

Describe an integration as a YAML flow (source → steps → sinks); integrator validates it,
compiles it once into a step graph, and runs it with late acknowledgement.
"""

from __future__ import annotations

__version__ = "0.1.0"
