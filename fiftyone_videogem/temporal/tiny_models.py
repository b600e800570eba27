"""Vision-language and text models with random weights, built without any download.

For tests, offline smoke runs and cost measurements of the yes/no scorer and the query writer. The
answers of these models are meaningless.

* The tokenizer (:func:`tiny_tokenizer`) is a byte-level BPE that the ``tokenizers`` library trains
  in code on a few sentences of the prompts used here, so that ``"Yes"``, ``" Yes"``, ``"yes"``,
  ``" yes"`` (and the same for no) are single tokens as in real tokenizers; special tokens of the
  family (image placeholders, turn markers) are added as whole tokens. Any text can be encoded
  (byte-level alphabet).
* The chat templates follow the layout of each family's own template (written for this project).
* The models are the real transformers classes (``Idefics3ForConditionalGeneration``,
  ``Qwen2VLForConditionalGeneration``, ``LlamaForCausalLM``) with small configurations, initialised
  under a forked torch RNG so that the global generator is left as it was.
"""

from __future__ import annotations

import logging
from typing import Any

import torch

logger = logging.getLogger(__name__)

_CORPUS = (
    "Yes. No. yes no Yes No Yes, no. yes, No, yes. no.",
    "This is a frame from a video of a person doing an action.",
    "Is the person starting the action? Is the action ending? Only answer yes or no.",
    "User: Assistant: user assistant system start end description question answer",
    '{"start": "Is it?", "end": "Is it over?", "description": "A person moves."}',
)

_IDEFICS3_SPECIAL = (
    "<|endoftext|>",
    "<|im_start|>",
    "<end_of_utterance>",
    "<image>",
    "<fake_token_around_image>",
    "<global-img>",
    *(f"<row_{i}_col_{j}>" for i in range(1, 7) for j in range(1, 7)),
)
_QWEN2_VL_SPECIAL = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
)

_CONTENT = (
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for part in message['content'] %}{% if part['type'] == 'image' %}IMAGE{% else %}{{ part['text'] }}"
    "{% endif %}{% endfor %}{% endif %}"
)
IDEFICS3_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] | capitalize }}:"
    + _CONTENT.replace("IMAGE", "<image>")
    + "<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}Assistant:{% endif %}"
)
"""An Idefics3 / SmolVLM style template: ``<|im_start|>User:<image>text<end_of_utterance>\\nAssistant:``."""

QWEN2_VL_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    + _CONTENT.replace("IMAGE", "<|vision_start|><|image_pad|><|vision_end|>")
    + "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
"""A Qwen2-VL style template: ``<|im_start|>user\\n<|vision_start|><|image_pad|><|vision_end|>text<|im_end|>``."""

# SmolVLM-256M-Instruct's architecture: SigLIP-B/16 at 512 px, pixel shuffle 4, SmolLM2-135M
_SMOLVLM_256M = {
    "vision": dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                   image_size=512, patch_size=16),
    "text": dict(hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
                 num_key_value_heads=3, vocab_size=49280, max_position_embeddings=8192, rope_theta=100000.0),
    "scale_factor": 4,
    "longest_edge": 2048,
    "tile": 512,
}
_TINY_IDEFICS3 = {
    "vision": dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                   image_size=32, patch_size=8),
    "text": dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, vocab_size=None, max_position_embeddings=1024),
    "scale_factor": 2,
    "longest_edge": 64,
    "tile": 32,
}


def tiny_tokenizer(special_tokens: tuple[str, ...] = ("<|endoftext|>",), vocab_size: int = 400) -> Any:
    """A byte-level BPE tokenizer trained in code, wrapped as a transformers fast tokenizer.

    ``"<|endoftext|>"`` (the first special token) is the BOS, EOS and padding token.

    Args:
        special_tokens: tokens kept whole (the first one must be ``"<|endoftext|>"``)
        vocab_size (400): the vocabulary size the BPE trainer aims at
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(special_tokens),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(list(_CORPUS) * 4, trainer)
    end = special_tokens[0]
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token=end, eos_token=end, pad_token=end)


def _seeded(seed: int, build):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def build(family: str, size: str = "tiny", seed: int = 0) -> tuple[Any, Any]:
    """A random-weight image-text-to-text model and its processor.

    Args:
        family: ``"idefics3"`` or ``"qwen2_vl"``
        size ("tiny"): ``"tiny"``, or ``"smolvlm-256m"`` for SmolVLM-256M's architecture
            (``idefics3`` only)
        seed (0): seed of the weights

    Returns:
        ``(model, processor)``
    """
    if family == "idefics3":
        return _idefics3(_SMOLVLM_256M if size == "smolvlm-256m" else _TINY_IDEFICS3, seed)
    if family == "qwen2_vl":
        return _qwen2_vl(seed)
    raise ValueError(f"unknown family {family!r}; use 'idefics3' or 'qwen2_vl'")


def _idefics3(arch: dict, seed: int) -> tuple[Any, Any]:
    from transformers import Idefics3Config, Idefics3ForConditionalGeneration, Idefics3ImageProcessor, Idefics3Processor

    tokenizer = tiny_tokenizer(_IDEFICS3_SPECIAL)
    vision = dict(arch["vision"])
    scale = arch["scale_factor"]
    image_seq_len = (vision["image_size"] // vision["patch_size"]) ** 2 // scale**2
    processor = Idefics3Processor(
        image_processor=Idefics3ImageProcessor(
            size={"longest_edge": arch["longest_edge"]}, max_image_size={"longest_edge": arch["tile"]}
        ),
        tokenizer=tokenizer,
        image_seq_len=image_seq_len,
        chat_template=IDEFICS3_CHAT_TEMPLATE,
    )
    text = dict(arch["text"])
    text["vocab_size"] = text["vocab_size"] or len(tokenizer)
    config = Idefics3Config(
        vision_config=vision,
        text_config=dict(model_type="llama", pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=False, **text),
        scale_factor=scale,
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        tie_word_embeddings=False,
    )
    model = _seeded(seed, lambda: Idefics3ForConditionalGeneration(config))
    return model, processor


def _qwen2_vl(seed: int) -> tuple[Any, Any]:
    from transformers import (
        Qwen2VLConfig,
        Qwen2VLForConditionalGeneration,
        Qwen2VLImageProcessor,
        Qwen2VLProcessor,
        Qwen2VLVideoProcessor,
    )

    tokenizer = tiny_tokenizer(_QWEN2_VL_SPECIAL)
    patch, merge = 4, 2
    sizes = dict(patch_size=patch, merge_size=merge, temporal_patch_size=2, min_pixels=(patch * merge) ** 2,
                 max_pixels=32 * 32)
    processor = Qwen2VLProcessor(
        image_processor=Qwen2VLImageProcessor(**sizes),
        tokenizer=tokenizer,
        video_processor=Qwen2VLVideoProcessor(**sizes),
        chat_template=QWEN2_VL_CHAT_TEMPLATE,
    )
    ids = tokenizer.convert_tokens_to_ids
    config = Qwen2VLConfig(
        vision_config=dict(depth=2, embed_dim=32, hidden_size=32, num_heads=2, mlp_ratio=2, patch_size=patch,
                           spatial_merge_size=merge, temporal_patch_size=2),
        text_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, vocab_size=len(tokenizer), max_position_embeddings=1024,
                         rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 1, 1]},
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id),
        image_token_id=ids("<|image_pad|>"),
        video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"),
        vision_end_token_id=ids("<|vision_end|>"),
        tie_word_embeddings=False,
    )
    model = _seeded(seed, lambda: Qwen2VLForConditionalGeneration(config))
    return model, processor


def tiny_causal_lm(seed: int = 0) -> tuple[Any, Any]:
    """A random-weight ``LlamaForCausalLM`` and its tokenizer (with a chat template), for text generation plumbing.

    Returns:
        ``(model, tokenizer)``
    """
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = tiny_tokenizer(("<|endoftext|>", "<|im_start|>", "<|im_end|>"))
    tokenizer.chat_template = QWEN2_VL_CHAT_TEMPLATE
    config = LlamaConfig(
        hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        vocab_size=len(tokenizer), max_position_embeddings=2048, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=False,
    )
    model = _seeded(seed, lambda: LlamaForCausalLM(config))
    return model.eval(), tokenizer
