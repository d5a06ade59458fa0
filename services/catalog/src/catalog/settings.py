"""Catalog settings: the shared ones (marcus_web.settings) with the catalog's defaults."""

from __future__ import annotations

from marcus_web.settings import ServiceSettings

SERVICE = "catalog"
SCHEMA = "catalog"


class CatalogSettings(ServiceSettings):
    port: int = 8001
