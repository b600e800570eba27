"""The yes/no scorer on tiny random Idefics3 (SmolVLM) and Qwen2-VL models built offline."""

import numpy as np
import pytest
import torch

from fiftyone_videogem.temporal.scorer import (
    FAMILIES,
    NO_VARIANTS,
    SCORERS,
    YES_VARIANTS,
    ZEAL_PROMPT,
    YesNoScorer,
    answer_token_ids,
    get_scorer_spec,
    load_scorer,
)
from fiftyone_videogem.temporal.tiny_models import tiny_tokenizer

QUESTIONS = ["Is the person starting to swing the club?", "Has the swing just ended?"]
CONTEXT = "golf swing"

# the byte-level BPE spells a leading space as "Ġ"
YES_TOKENS = ["Yes", "ĠYes", "yes", "Ġyes"]
NO_TOKENS = ["No", "ĠNo", "no", "Ġno"]


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Tiny models run fastest on one thread; several threads spin against each other on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def frame(seed, h=48, w=64):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.fixture(scope="module", params=FAMILIES)
def scorer(request):
    return YesNoScorer.from_config(request.param, seed=0, device="cpu")


def reference_probability(scorer, image, question, context):
    """p(yes) of one (frame, question) from a plain processor + model call on the whole prompt."""
    text = ZEAL_PROMPT.format(context=context, question=question)
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": text}]}]
    prompt = scorer.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    inputs = scorer.processor(text=[prompt], images=[[image]], return_tensors="pt")
    with torch.no_grad():
        logits = scorer.model(**inputs).logits[0, -1].double()
    vocab = scorer.tokenizer.get_vocab()
    yes = torch.logsumexp(logits[[vocab[t] for t in YES_TOKENS]], dim=0)
    no = torch.logsumexp(logits[[vocab[t] for t in NO_TOKENS]], dim=0)
    return float(torch.sigmoid(yes - no))


def test_registry_names_models_and_licences():
    assert set(SCORERS) >= {"smolvlm-256m", "smolvlm-500m", "qwen2-vl-2b", "llava-onevision-0.5b"}
    assert get_scorer_spec("llava-onevision-0.5b").repo_id.endswith("-hf")
    assert all(spec.license == "Apache-2.0" for spec in SCORERS.values())
    with pytest.raises(KeyError, match="smolvlm-256m"):
        get_scorer_spec("smolvlm-1b")


def test_yes_no_token_ids_come_from_the_tokenizer(scorer):
    vocab = scorer.tokenizer.get_vocab()
    assert scorer.yes_tokens == dict(zip(YES_VARIANTS, (vocab[t] for t in YES_TOKENS)))
    assert scorer.no_tokens == dict(zip(NO_VARIANTS, (vocab[t] for t in NO_TOKENS)))
    assert scorer.config()["yes_tokens"] == scorer.yes_tokens


def test_variants_that_are_not_one_token_are_left_out():
    tokenizer = tiny_tokenizer(vocab_size=270)  # too few merges for the words: most variants split
    found = answer_token_ids(tokenizer, YES_VARIANTS + ("y",))
    for variant, token_id in found.items():
        assert tokenizer.encode(variant, add_special_tokens=False) == [token_id]
    assert "y" in found
    assert len(tokenizer.encode(" yes", add_special_tokens=False)) > 1 and " yes" not in found


def test_probabilities_are_in_the_open_unit_interval(scorer):
    frames = [frame(s) for s in range(3)]
    scores = scorer.score(frames, QUESTIONS, context=CONTEXT)
    assert scores.shape == (3, 2) and scores.dtype == np.float64
    assert np.all((scores > 0) & (scores < 1))
    assert len(np.unique(scores)) > 1  # the frames and the questions change the answer


def test_shared_prefix_and_batches_equal_one_by_one(scorer):
    frames = [frame(s) for s in range(3)] + [frame(9, h=40, w=40)]  # two sizes: two groups of frames
    expected = np.array([[reference_probability(scorer, f, q, CONTEXT) for q in QUESTIONS] for f in frames])
    batched = YesNoScorer(scorer.model, scorer.processor, batch_size=2)
    shared = batched.score(frames, QUESTIONS, context=CONTEXT)
    separate = batched.score(frames, QUESTIONS, context=CONTEXT, share_prefix=False)
    one = YesNoScorer(scorer.model, scorer.processor, batch_size=1)
    one_by_one = np.array([[one.score([f], [q], context=CONTEXT)[0, 0] for q in QUESTIONS] for f in frames])
    np.testing.assert_allclose(shared, expected, atol=1e-4)
    np.testing.assert_allclose(separate, expected, atol=1e-4)
    np.testing.assert_allclose(one_by_one, expected, atol=1e-4)


def test_questions_of_different_lengths_share_a_prefix(scorer):
    questions = ["Is it?", "Is the person at the very end of the swing, with the club over the shoulder?"]
    frames = [frame(s) for s in range(2)]
    expected = np.array([[reference_probability(scorer, f, q, "golf") for q in questions] for f in frames])
    np.testing.assert_allclose(scorer.score(frames, questions, context="golf"), expected, atol=1e-4)


def bias_output_layer(scorer, toward_yes):
    """Replaces the output layer by a copy with a bias of +-10 on the yes and no tokens."""
    head = scorer.model.get_output_embeddings()
    biased = torch.nn.Linear(head.in_features, head.out_features, bias=True)
    vocab = scorer.tokenizer.get_vocab()
    sign = 1.0 if toward_yes else -1.0
    with torch.no_grad():
        biased.weight.copy_(head.weight)
        biased.bias.zero_()
        biased.bias[[vocab[t] for t in YES_TOKENS]] = 10.0 * sign
        biased.bias[[vocab[t] for t in NO_TOKENS]] = -10.0 * sign
    scorer.model.set_output_embeddings(biased)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("toward_yes", [True, False])
def test_a_model_that_answers_yes_scores_near_one(family, toward_yes):
    scorer = YesNoScorer.from_config(family, seed=1, device="cpu")
    bias_output_layer(scorer, toward_yes)
    scores = scorer.score([frame(0), frame(1)], QUESTIONS, context=CONTEXT)
    if toward_yes:
        assert np.all(scores > 0.99)
    else:
        assert np.all(scores < 0.01)


def test_prompt_parts_hold_the_context_and_the_generation_prompt(scorer):
    before, after = scorer.prompt_parts("golf swing")
    assert before.endswith("This is a frame from a video of golf swing.\n")
    assert after.startswith(" Only answer yes or no.")
    assert after.endswith(("Assistant:", "assistant\n"))  # the answer is the next token
    no_context, _ = scorer.prompt_parts(None)
    assert "This is a frame" not in no_context


def test_custom_prompt(scorer):
    custom = YesNoScorer(scorer.model, scorer.processor, prompt="Video of {context}. Question: {question}")
    before, after = custom.prompt_parts("diving")
    assert before.endswith("Video of diving. Question: ") and "Only answer" not in after
    a = custom.score([frame(0)], QUESTIONS, context="diving")
    b = scorer.score([frame(0)], QUESTIONS, context="diving")
    assert not np.allclose(a, b, atol=1e-7)
    with pytest.raises(ValueError, match="question"):
        YesNoScorer(scorer.model, scorer.processor, prompt="Is this {context}?")


def test_out_of_memory_halves_the_batch(scorer, caplog):
    class Tight(YesNoScorer):
        calls = []

        def _score_shared(self, images, before, suffixes):
            self.calls.append(len(images))
            if len(images) > 2:
                raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
            return super()._score_shared(images, before, suffixes)

    frames = [frame(s) for s in range(5)]
    tight = Tight(scorer.model, scorer.processor, batch_size=8)
    scores = tight.score(frames, QUESTIONS, context=CONTEXT)
    assert Tight.calls == [5, 4, 2, 2, 1]
    assert "retrying with batches of 2" in caplog.text
    np.testing.assert_allclose(scores, scorer.score(frames, QUESTIONS, context=CONTEXT), atol=1e-6)


def test_the_batch_that_fit_holds_for_frames_of_another_size(scorer):
    class Tight(YesNoScorer):
        calls = []

        def _score_shared(self, images, before, suffixes):
            self.calls.append((images[0].size, len(images)))
            if len(images) > 2:
                raise MemoryError("out of memory")
            return super()._score_shared(images, before, suffixes)

    frames = [frame(s) for s in range(3)] + [frame(s, h=32, w=32) for s in range(3)]
    tight = Tight(scorer.model, scorer.processor, batch_size=4)
    scores = tight.score(frames, QUESTIONS, context=CONTEXT)
    assert [n for _, n in Tight.calls] == [3, 2, 1, 2, 1]  # the second size starts at the size that fit
    assert len({size for size, _ in Tight.calls}) == 2
    np.testing.assert_allclose(scores, scorer.score(frames, QUESTIONS, context=CONTEXT), atol=1e-6)


def test_from_config_leaves_the_global_generator_alone():
    state = torch.random.get_rng_state()
    a = YesNoScorer.from_config("qwen2_vl", seed=3, device="cpu")
    assert torch.equal(torch.random.get_rng_state(), state)
    b = YesNoScorer.from_config("qwen2_vl", seed=3, device="cpu")
    c = YesNoScorer.from_config("qwen2_vl", seed=4, device="cpu")
    wa, wb, wc = (next(s.model.parameters()) for s in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)
    assert YesNoScorer.from_config().name.startswith("random-idefics3")


def test_inputs_are_checked(scorer):
    with pytest.raises(ValueError, match="question 1"):
        scorer.score([frame(0)], ["Is it?", " "])
    with pytest.raises(ValueError, match="frame 0"):
        scorer.score([np.zeros((4, 4, 5))], ["Is it?"])
    assert scorer.score([], QUESTIONS).shape == (0, 2)
    with pytest.raises(ValueError, match="family"):
        YesNoScorer.from_config("florence2")


def test_unavailable_models_fail_naming_the_local_folder_option(tmp_path):
    with pytest.raises(RuntimeError, match="local folder") as info:
        YesNoScorer.from_pretrained("videogem-tests/no-such-model", device="cpu")
    assert "no-such-model" in str(info.value)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        YesNoScorer.from_pretrained(str(tmp_path / "missing"), device="cpu")
    with pytest.raises(RuntimeError, match="does not hold"):
        YesNoScorer.from_pretrained(str(tmp_path), device="cpu")


def test_load_scorer_names_random_models_and_passes_scorers_through(scorer):
    assert load_scorer(scorer) is scorer
    again = load_scorer(scorer.name, device="cpu")  # "random-<family>-tiny-seed0": the same weights
    assert again.name == scorer.name and type(again.model) is type(scorer.model)
    np.testing.assert_allclose(again.score([frame(1)], QUESTIONS, CONTEXT), scorer.score([frame(1)], QUESTIONS, CONTEXT))
    other = load_scorer(scorer.name.replace("seed0", "seed1"), device="cpu")
    assert not np.allclose(other.score([frame(1)], QUESTIONS, CONTEXT), scorer.score([frame(1)], QUESTIONS, CONTEXT))
    with pytest.raises(ValueError, match="unknown family"):
        load_scorer("random-nosuchfamily")
