"""Near-duplicate removal over a finished dataset, from its CLIP embeddings."""
