"""Importers of released clip tables (LVD-2M's CSVs) into the project's schema and shard layout."""

from .tables import ImportConfig, import_tables, iter_release

__all__ = ["ImportConfig", "import_tables", "iter_release"]
