"""Media access: probing and the one frame sampler every stage draws from."""
