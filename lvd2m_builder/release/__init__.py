"""Importing released clip tables (LVD-2M's CSVs) into the project's schema and shard layout (``lvd2m import``)."""
