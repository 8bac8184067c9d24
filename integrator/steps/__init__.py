"""Step kinds, one module each; ``STEP_KINDS`` maps the YAML key to the class."""

from __future__ import annotations

from integrator.steps.base import Step
from integrator.steps.checks import FilterStep, ValidateStep
from integrator.steps.convert import ConvertStep
from integrator.steps.enrich import EnrichStep
from integrator.steps.fields import DropStep, RenameStep, SetStep
from integrator.steps.grouping import AggregateStep, SplitStep
from integrator.steps.mapping import MapStep, TemplateStep
from integrator.steps.routing import DeliverStep, RouteStep

__all__ = ["STEP_KINDS", "Step"]

STEP_KINDS: dict[str, type[Step]] = {
    cls.kind: cls
    for cls in (
        MapStep, TemplateStep, SetStep, RenameStep, DropStep, FilterStep, ValidateStep,
        ConvertStep, SplitStep, AggregateStep, EnrichStep, RouteStep, DeliverStep,
    )
}
