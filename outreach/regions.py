"""The configured residence cities and districts (onboarding choices, statistics keys)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from outreach.errors import ConfigError


@dataclass(frozen=True)
class District:
    id: str
    name: dict[str, str]


@dataclass(frozen=True)
class City:
    id: str
    name: dict[str, str]
    districts: tuple[District, ...]

    def district(self, district_id: str) -> District | None:
        return next((d for d in self.districts if d.id == district_id), None)


@dataclass(frozen=True)
class Regions:
    cities: tuple[City, ...]

    def city(self, city_id: str) -> City | None:
        return next((c for c in self.cities if c.id == city_id), None)


def load_regions(path: Path) -> Regions:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        cities = tuple(
            City(
                id=str(c["id"]),
                name=dict(c["name"]),
                districts=tuple(
                    District(id=str(d["id"]), name=dict(d["name"])) for d in c["districts"]
                ),
            )
            for c in raw["cities"]
        )
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise ConfigError(f"cannot read regions file {path}: {exc}") from exc
    if not cities or any(not c.districts for c in cities):
        raise ConfigError(f"regions file {path}: every city needs at least one district")
    return Regions(cities=cities)
