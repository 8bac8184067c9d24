"""Sandboxed Jinja2 templates, compiled once when a flow loads and rendered per message.

Datasheet
    engine        ``jinja2.sandbox.ImmutableSandboxedEnvironment``, one per configuration
                  (:func:`template_environment`), ``StrictUndefined``, no loader
    text / JSON   ``compile_template(src)``: autoescape off
    XML           ``compile_template(src, autoescape=True)``: values escaped (markupsafe)
    filters       Jinja's built-ins plus ``tojson``, ``xml_escape``, ``money``
                  (see :mod:`.filters`)
    refused       ``{% include %}``, ``{% import %}``, ``{% from %}``, ``{% extends %}``
                  at compile time; private attributes and mutating methods at render time
    limits        ``max_output`` characters per render (default 1 000 000), ``range()`` up
                  to 100 000 items, 100 000 loop iterations per render, sizes checked
                  before ``*`` ``**`` ``%`` and the amplifying filters (see :mod:`.limits`);
                  at most ``MAX_NESTING`` (64) levels of nesting when compiling
    fast path     text + ``{{ name.field | filter }}`` templates compile to a closure
                  that renders in well under a microsecond (see :mod:`.fastpath`);
                  ``Template.fast`` tells which path a template takes
    errors        :class:`~integrator.errors.ExpressionSyntaxError` when compiling,
                  :class:`~integrator.errors.TemplateError` when rendering

Data is never parsed as a template: a value containing ``{{ 7*7 }}`` is output as is.

Example::

    order_no = compile_template("SO-{{ market }}-{{ id }}", name="fields.order_no")
    order_no.render({"market": "PL", "id": 42})    # "SO-PL-42"
"""

from __future__ import annotations

from integrator.mapping.templates.environment import template_environment
from integrator.mapping.templates.fastpath import FAST_FILTERS
from integrator.mapping.templates.filters import FILTERS
from integrator.mapping.templates.limits import MAX_LOOP_ITERATIONS, MAX_OUTPUT, MAX_RANGE
from integrator.mapping.templates.template import MAX_NESTING, Template, compile_template

__all__ = [
    "FAST_FILTERS",
    "FILTERS",
    "MAX_LOOP_ITERATIONS",
    "MAX_NESTING",
    "MAX_OUTPUT",
    "MAX_RANGE",
    "Template",
    "compile_template",
    "template_environment",
]
