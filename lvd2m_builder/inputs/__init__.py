"""Inputs: turning what the user names (directories, globs, URLs, clip tables, webdataset tars, release CSVs) into clips."""
