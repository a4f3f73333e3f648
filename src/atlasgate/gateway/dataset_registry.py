"""The data sets the gateway gates, with their profiles loaded once per snapshot."""

from __future__ import annotations

from dataclasses import dataclass

from atlasgate.config.schema import DatasetSpec, GatewayConfig
from atlasgate.data.profile import Profile
from atlasgate.data.settings import CheckSettings
from atlasgate.errors import AtlasGateError, ConfigError


@dataclass(frozen=True)
class Dataset:
    spec: DatasetSpec
    profile: Profile
    settings: CheckSettings


def load_datasets(config: GatewayConfig) -> dict[str, Dataset]:
    """Load every registered profile once, at start-up or reload."""
    datasets = {}
    for spec in config.datasets:
        try:
            profile = Profile.load(spec.profile)
            settings = CheckSettings.from_mapping(spec.checks, f"datasets.{spec.name}.checks")
        except AtlasGateError as exc:
            raise ConfigError(f"datasets.{spec.name}: {exc}") from None
        datasets[spec.name] = Dataset(spec, profile, settings)
    return datasets
