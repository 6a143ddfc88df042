"""The pipeline's stages: one explicit protocol (base.py), one registry, one file per stage."""
