"""Frame tasks of the model stages: what each takes from the shared sampler's one decode of a clip."""
