"""Media access: probing, the one frame sampler every stage draws from, encoding and cutting (PyAV, no ffmpeg
program)."""
