"""pydantic-settings' environment source over a given mapping, for a plugin's ``<INSTANCE>__<KEY>`` variables.

Imported only when a plugin has such variables (see :func:`.config_layers.instance_env`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

from pydantic import BaseModel
from pydantic_settings import BaseSettings, EnvSettingsSource

__all__ = ["MappingEnvSource"]


class MappingEnvSource(EnvSettingsSource):
    """Reads ``model``'s fields from ``env`` (names case-insensitive, ``prefix`` first); complex values as JSON.

    Tests and the host pass their mapping instead of ``os.environ``."""

    def __init__(self, model: type[BaseModel], prefix: str, env: Mapping[str, str]) -> None:
        self._given = env
        # pydantic-settings reads only model_fields and model_config from the class: a plain model is enough.
        super().__init__(cast(type[BaseSettings], model), case_sensitive=False, env_prefix=prefix)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {key.lower(): value for key, value in self._given.items()}
