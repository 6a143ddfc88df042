"""``lvd2m export-wds``: the videos config as webdataset tars."""
