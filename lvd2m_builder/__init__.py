"""lvd2m-builder: build, validate, publish and stream LVD-2M-style long-take video datasets."""

__version__ = "0.1.0"
