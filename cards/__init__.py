"""Dataset card templates (shipped in the wheel as ``lvd2m_builder.cards``)."""
