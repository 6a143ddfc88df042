"""The dataset card: YAML that makes load_dataset work, Table 1-style stats and plots."""
