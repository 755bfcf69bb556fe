"""Service settings (``PA_*``): start-up switches and the demo traffic, in one class.

``PA_DEMO_DATA`` both loads the demo data set at start-up and runs the demo traffic:
one variable, read once, by this class.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from annotated_types import Ge, Gt, Le
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from personal_assistant.database.settings_loader import load_settings


class ServiceSettings(BaseSettings):
    """Service-level switches; database settings live in ``DatabaseConfig``."""

    model_config = SettingsConfigDict(
        env_prefix="PA_", env_file=".env", extra="ignore", hide_input_in_errors=True
    )

    auto_migrate: bool = Field(default=False, description="apply pending migrations at start")
    demo_data: bool = Field(
        default=False, description="load a small demo data set at start and run demo traffic"
    )
    data_dir: str = Field(default=".pa-data", description="where the embedded server lives")
    demo_traffic_rate: Annotated[float, Gt(0), Le(200)] = Field(
        default=4.0, description="demo permission checks per second"
    )
    demo_traffic_burst: Annotated[int, Ge(1), Le(20)] = Field(
        default=3, description="most demo checks run at once"
    )


@lru_cache(maxsize=1)
def get_service_settings() -> ServiceSettings:
    """The process-wide settings, read once (tests call ``cache_clear()``)."""
    return load_settings(ServiceSettings)
