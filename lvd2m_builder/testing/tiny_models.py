"""Tiny random-weight models built offline, for the tests and the benchmark: nothing is downloaded.

``tiny_vlm`` saves a small Qwen2-VL (config, weights, processor, tokenizer, chat template) to a directory that
the ``transformers`` backend loads like any checkpoint. ``random_llm`` builds a causal LM of a given shape in
memory (``tiny`` for the CPU, ``7b`` for a Llama-7B-shaped model on a GPU) with a word-level tokenizer whose
every word is one token, so a benchmark prompt has an exact token count.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lvd2m_builder.models import prompts

SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>",
           "<|video_pad|>"]

#: ChatML with Qwen2-VL's image placeholder; string or list content, so text and vision models share it.
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

SHAPES: dict[str, dict[str, int]] = {
    "tiny": dict(vocab_size=1024, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                 num_attention_heads=4, num_key_value_heads=2),
    "7b": dict(vocab_size=32000, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
               num_attention_heads=32, num_key_value_heads=32),
}


def bpe_tokenizer(vocab_size: int = 512):
    """A byte-level BPE tokenizer (any text encodes) trained on the prompts, with ChatML special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    corpus = [getattr(prompts, name) for name in dir(prompts) if name.isupper() and isinstance(getattr(prompts, name), str)]
    core.train_from_iterator(corpus * 4, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=core, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   chat_template=CHAT_TEMPLATE)


def word_tokenizer(vocab_size: int):
    """Words ``w0`` .. ``wN`` (one token each) plus the special tokens: exact prompt lengths for benchmarks."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate(SPECIAL)}
    vocab.update({f"w{i}": len(SPECIAL) + i for i in range(vocab_size - len(SPECIAL) - 1)})
    vocab["[UNK]"] = len(vocab)
    core = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=core, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   unk_token="[UNK]", chat_template=CHAT_TEMPLATE)


def _ids(tokenizer) -> dict[str, int]:
    return {token: tokenizer.convert_tokens_to_ids(token) for token in SPECIAL}


def tiny_vlm(path: str | Path, seed: int = 0, max_pixels: int = 56 * 56 * 4) -> Path:
    """Save a random-weight Qwen2-VL with a few thousand parameters, its processor and tokenizer, to ``path``.

    ``max_pixels`` bounds each image's size inside the processor (and so its number of image tokens).
    """
    import torch
    from transformers import (
        Qwen2VLConfig,
        Qwen2VLForConditionalGeneration,
        Qwen2VLImageProcessor,
        Qwen2VLProcessor,
        Qwen2VLVideoProcessor,
    )

    path = Path(path)
    tokenizer = bpe_tokenizer()
    ids = _ids(tokenizer)
    processor = Qwen2VLProcessor(image_processor=Qwen2VLImageProcessor(min_pixels=56 * 56, max_pixels=max_pixels),
                                 video_processor=Qwen2VLVideoProcessor(), tokenizer=tokenizer,
                                 chat_template=CHAT_TEMPLATE)
    text = dict(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                rope_scaling={"type": "mrope", "mrope_section": [1, 1, 2]},
                eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"], bos_token_id=None)
    config = Qwen2VLConfig(
        text_config=text,
        vision_config=dict(depth=1, embed_dim=32, hidden_size=32, num_heads=4, mlp_ratio=2, patch_size=14,
                           spatial_merge_size=2, temporal_patch_size=2, in_chans=3),
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
        eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"], bos_token_id=None,
    )
    torch.manual_seed(seed)
    model = Qwen2VLForConditionalGeneration(config)
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


def random_llm(shape: str = "tiny", device: str = "cpu", seed: int = 0) -> tuple[Any, Any]:
    """(model, tokenizer): a random-weight Llama-architecture LM of ``shape``, bf16 on a GPU, float32 on a CPU."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    dims = SHAPES[shape]
    tokenizer = word_tokenizer(dims["vocab_size"])
    ids = _ids(tokenizer)
    config = LlamaConfig(**dims, max_position_embeddings=4096, eos_token_id=ids["<|im_end|>"],
                         pad_token_id=ids["<|endoftext|>"], bos_token_id=None, attn_implementation="sdpa")
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    torch.manual_seed(seed)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = LlamaForCausalLM(config)
    finally:
        torch.set_default_dtype(previous)
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    return model.eval(), tokenizer
