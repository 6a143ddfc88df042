"""Where rows live on disk: shard writing and reading, the manifest, atomic writes, resharding."""
