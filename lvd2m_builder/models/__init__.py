"""Model backends: VLM/LLM (transformers, OpenAI-compatible), prompts and reply parsing, CLIP, optical flow."""
