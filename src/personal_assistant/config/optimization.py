"""The seed's public face for the database optimizer.

``DatabaseOptimizer(engine).analyze()`` returns an :class:`OptimizationReport` of
:class:`Recommendation` objects (read-only); ``apply()`` runs chosen safe ones. The
code lives in :mod:`personal_assistant.optimizer`; docs/performance-optimization.md
explains every check and threshold. Nothing inside the package imports this module.
"""

from __future__ import annotations

from personal_assistant.optimizer.database_optimizer import DatabaseOptimizer
from personal_assistant.optimizer.errors import OptimizerError
from personal_assistant.optimizer.models import (
    Kind,
    OptimizationReport,
    Recommendation,
    Severity,
)
from personal_assistant.optimizer.settings import OptimizerSettings, get_optimizer_settings

__all__ = [
    "DatabaseOptimizer",
    "Kind",
    "OptimizationReport",
    "OptimizerError",
    "OptimizerSettings",
    "Recommendation",
    "Severity",
    "get_optimizer_settings",
]
