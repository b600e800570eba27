"""ZEAL's per-class queries: the JSON file, model-written queries with lenient parsing, templates."""

import json
import re

import pytest
import torch

from fiftyone_videogem.temporal.queries import (
    QUERY_KEYS,
    QUERY_PROMPT,
    TEMPLATES,
    QueryFileError,
    action_phrase,
    generate_queries,
    load_queries,
    parse_generated_queries,
    query_prompt,
    resolve_queries,
    save_queries,
    template_queries,
)

GOLF = {
    "start": "Is the golfer standing over the ball with the club behind it?",
    "end": "Is the golfer holding the finish with the club over the shoulder?",
    "description": "A person swings a golf club to hit a ball.",
}


def write(path, data):
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def test_action_phrase():
    assert action_phrase("CleanAndJerk") == "clean and jerk"
    assert action_phrase("BaseballPitch") == "baseball pitch"
    assert action_phrase("Diving") == "Diving"
    assert action_phrase("long_jump") == "long jump"
    assert action_phrase("  crack   eggs ") == "crack eggs"
    with pytest.raises(ValueError):
        action_phrase(" ")


def test_templates_fill_in_the_class_in_words():
    queries = template_queries(["GolfSwing", "pole vault"])
    assert list(queries) == ["GolfSwing", "pole vault"]
    assert queries["GolfSwing"] == {key: TEMPLATES[key].format(action="golf swing") for key in QUERY_KEYS}
    assert '"pole vault"' in queries["pole vault"]["start"] and queries["pole vault"]["start"].endswith("?")
    custom = template_queries(["Diving"], {"start": "Start of {action}?", "end": "End of {action}?", "description": "{action}"})
    assert custom["Diving"] == {"start": "Start of Diving?", "end": "End of Diving?", "description": "Diving"}
    with pytest.raises(ValueError, match="description"):
        template_queries(["Diving"], {"start": "a", "end": "b"})


def test_file_round_trip(tmp_path):
    queries = {"GolfSwing": GOLF, "Diving": {**GOLF, "description": "  A person   dives. "}}
    path = save_queries(queries, tmp_path / "q" / "queries.json")
    loaded = load_queries(path)
    assert loaded["GolfSwing"] == GOLF and loaded["Diving"]["description"] == "A person dives."
    assert load_queries(path, classes=["Diving"]) == {"Diving": loaded["Diving"]}
    with pytest.raises(FileExistsError):
        save_queries(queries, path)
    save_queries({"Diving": GOLF}, path, overwrite=True)
    assert list(load_queries(path)) == ["Diving"]


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "not valid JSON (line 1"),
        ([1, 2], "must be a JSON object"),
        ({}, "no class"),
        ({"GolfSwing": "swing"}, "class 'GolfSwing': expected an object"),
        ({"GolfSwing": {"start": "a?", "end": "b?"}}, "class 'GolfSwing': missing 'description'"),
        ({"GolfSwing": {**GOLF, "end": ""}}, "class 'GolfSwing': 'end' must be a non-empty string"),
        ({"GolfSwing": {**GOLF, "start": 3}}, "'start' must be a non-empty string"),
    ],
)
def test_malformed_files_say_what_is_wrong(tmp_path, content, message):
    with pytest.raises(QueryFileError, match=re.escape(message)):
        load_queries(write(tmp_path / "queries.json", content))


def test_missing_file_and_missing_classes(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_queries(tmp_path / "none.json")
    path = write(tmp_path / "queries.json", {"GolfSwing": GOLF})
    with pytest.raises(QueryFileError, match=r"no queries for 1 classes: \['Diving'\]"):
        load_queries(path, classes=["GolfSwing", "Diving"])


def test_resolve_from_file_dict_or_templates(tmp_path):
    path = write(tmp_path / "queries.json", {"GolfSwing": GOLF})
    resolved = resolve_queries(["GolfSwing", "Diving"], path)
    assert resolved["GolfSwing"] == GOLF
    assert resolved["Diving"] == template_queries(["Diving"])["Diving"]
    assert resolve_queries(["GolfSwing"], {"GolfSwing": GOLF}) == {"GolfSwing": GOLF}
    assert resolve_queries(["Diving"]) == template_queries(["Diving"])
    with pytest.raises(QueryFileError, match="Diving"):
        resolve_queries(["GolfSwing", "Diving"], path, fill_missing=False)


@pytest.mark.parametrize(
    "answer",
    [
        json.dumps(GOLF),
        "Sure! Here are the queries:\n```json\n" + json.dumps(GOLF, indent=2) + "\n```\nGood luck.",
        "{'start': '%s', 'end': '%s', 'description': '%s'}" % (GOLF["start"], GOLF["end"], GOLF["description"]),
        json.dumps({"golf swing": GOLF}),
        json.dumps({k.capitalize(): v for k, v in GOLF.items()}),
        "Start: %s\nEnd: %s\nDescription: %s" % (GOLF["start"], GOLF["end"], GOLF["description"]),
        '1. **start**: "%s"\n2. **end**: "%s"\n3. **description**: "%s"' % (GOLF["start"], GOLF["end"], GOLF["description"]),
        "{broken json\nstart - %s\nend = %s\ndescription: %s" % (GOLF["start"], GOLF["end"], GOLF["description"]),
    ],
)
def test_parse_generated_answers(answer):
    assert parse_generated_queries(answer) == GOLF


def test_parse_partial_and_garbage_answers():
    assert parse_generated_queries('{"start": "Is it beginning?", "end": ""}') == {"start": "Is it beginning?"}
    assert parse_generated_queries("yes yes no {{{{ ]]]") == {}
    assert parse_generated_queries("") == {}
    assert parse_generated_queries(None) == {}


def test_query_prompt_names_the_action():
    prompt = query_prompt("CleanAndJerk")
    assert '"clean and jerk"' in prompt and '{"start": "Is the person ...?"' in prompt
    assert prompt == QUERY_PROMPT.format(action="clean and jerk")


def test_generate_with_a_tiny_random_model_falls_back_to_templates(caplog):
    from fiftyone_videogem.temporal.tiny_models import tiny_causal_lm

    model, tokenizer = tiny_causal_lm(seed=0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        queries, sources = generate_queries(
            ["GolfSwing", "Diving"], model, tokenizer, max_new_tokens=12, return_sources=True
        )
    finally:
        torch.set_num_threads(threads)
    templates = template_queries(["GolfSwing", "Diving"])
    for name in ("GolfSwing", "Diving"):
        assert set(queries[name]) == set(QUERY_KEYS)
        for key in QUERY_KEYS:
            assert sources[name][key] in ("model", "template")
            if sources[name][key] == "template":
                assert queries[name][key] == templates[name][key]
    assert "templates used instead" in caplog.text  # random weights write no usable queries
    with pytest.raises(ValueError, match="tokenizer"):
        generate_queries(["Diving"], model)
