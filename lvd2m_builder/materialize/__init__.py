"""``lvd2m materialize``: cut every row's clip out of its source video."""
