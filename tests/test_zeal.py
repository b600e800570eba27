"""ZEAL in localize_actions: a real tiny yes/no model (random weights, built offline) as the start/end
scorer, on the generated untrimmed videos of the localisation tests (a red square during seconds 3-5, a
blue one during seconds 8-10, seen by a hand-set colour backbone). The end-to-end test at the end replaces the
vision-language model by a scorer whose answers are known (read from the frame's pixels), so that it can check
the segments found against the planted ones."""

import json
import os

import numpy as np
import pytest

import fiftyone as fo

from fiftyone_videogem.localization import VideoScan, localize_actions, spatial_fields
from fiftyone_videogem.temporal.scorer import YesNoScorer
from fiftyone_videogem.zeal import ScoreCache, ZealScorer, class_filter, scorer_fingerprint
from tests.test_localization import (  # noqa: F401 (videos: a fixture)
    FPS, HEIGHT, SECONDS, WIDTH, make_engine, videos, write_frames,
)
from tests.test_scorer import one_torch_thread  # noqa: F401 (autouse: tiny models on one thread)

QUERIES = {
    "RedBall": {"start": "Is a red ball appearing?", "end": "Is the red ball leaving?",
                "description": "a red ball on a dark floor"},
    "BlueCup": {"start": "Is a blue cup appearing?", "end": "Is the blue cup leaving?",
                "description": "a blue cup on a dark floor"},
    "GreenLeaf": {"start": "Is a green leaf appearing?", "end": "Is the green leaf leaving?",
                  "description": "a green leaf on a dark floor"},
}


class Recording(YesNoScorer):
    """The real tiny model; records what it was asked and counts the model's forward passes."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.asked = []
        self.forwards = 0
        self.model.register_forward_hook(lambda *_: setattr(self, "forwards", self.forwards + 1))

    def score(self, frames, questions, context=None, share_prefix=None):
        self.asked.append((context, list(questions), len(frames)))
        return super().score(frames, questions, context=context, share_prefix=share_prefix)


def tiny_scorer(seed=0):
    base = YesNoScorer.from_config("idefics3", seed=seed, device="cpu")
    return Recording(base.model, base.processor, name=base.name)


@pytest.fixture
def dataset(make_dataset, videos):
    dataset = make_dataset()
    dataset.add_samples([fo.Sample(filepath=videos[0], actions=["RedBall", "Unlisted"]),
                         fo.Sample(filepath=videos[1], actions=["BlueCup"])])
    return dataset


def scan_of(path, frame_numbers):
    return VideoScan("id", path, frame_numbers, np.zeros((len(frame_numbers), 8), np.float32), 10.0)


def test_the_adapter_asks_each_class_start_and_end_with_the_class_as_context(videos):
    scorer = tiny_scorer()
    adapter = ZealScorer(scorer, QUERIES)
    scan = scan_of(videos[0], [1, 31, 61, 91])
    start, end = adapter(scan, ["RedBall", "BlueCup"])
    assert start.shape == end.shape == (4, 2)
    assert [(c, q) for c, q, _ in scorer.asked] == [
        ("red ball", [QUERIES["RedBall"]["start"], QUERIES["RedBall"]["end"]]),
        ("blue cup", [QUERIES["BlueCup"]["start"], QUERIES["BlueCup"]["end"]]),
    ]
    frames = [rgb for _, rgb in scan.frames()]
    expected = YesNoScorer.score(scorer, frames, [QUERIES["BlueCup"]["start"], QUERIES["BlueCup"]["end"]], "blue cup")
    np.testing.assert_allclose(np.stack([start[:, 1], end[:, 1]], axis=1), expected, atol=1e-9)
    assert np.all((start > 0) & (start < 1))
    forwards = scorer.forwards
    adapter(scan, ["BlueCup"])  # the same video again: from memory
    assert scorer.forwards == forwards


def test_rerunning_the_proposals_with_other_options_makes_no_model_call(dataset, tmp_path):
    scorer = tiny_scorer()
    run = dict(method="zeal", scorer=scorer, queries=QUERIES, spatial=False, cache_dir=str(tmp_path))
    localize_actions(dataset, make_engine(), "z", **run)
    first = scorer.forwards
    assert first > 0
    assert {c for c, _, _ in scorer.asked} == {"red ball", "blue cup", "green leaf"}
    labels = {d.label for v in dataset.values("z") for d in v.detections}
    assert labels and labels <= set(QUERIES)
    assert all(d.confidence is not None for v in dataset.values("z") for d in v.detections)

    before = [[(d.label, d.support, d.confidence) for d in v.detections] for v in dataset.values("z")]
    localize_actions(dataset, make_engine(), "z", overwrite=True, segment_options={"top_p": 0.6, "lam": 0.5}, **run)
    assert scorer.forwards == first  # every score came from the cache
    after = [[(d.label, d.support, d.confidence) for d in v.detections] for v in dataset.values("z")]
    assert after != before  # the proposal step did run again, with the other options

    files = os.listdir(ScoreCache.directory_for(str(tmp_path)))
    assert len(files) == 2 * 3 * 2  # videos x classes x questions
    other = tiny_scorer(seed=1)  # another model: its own scores
    localize_actions(dataset, make_engine(), "z", overwrite=True, **dict(run, scorer=other))
    assert other.forwards > 0
    assert scorer_fingerprint(other) != scorer_fingerprint(scorer)


def test_without_a_cache_every_run_calls_the_model(dataset, tmp_path):
    scorer = tiny_scorer()
    run = dict(method="zeal", scorer=scorer, queries=["RedBall"], spatial=False, cache_dir=False)
    localize_actions(dataset.limit(1), make_engine(), "z", **run)
    first = scorer.forwards
    localize_actions(dataset.limit(1), make_engine(), "z", overwrite=True, **run)
    assert scorer.forwards == 2 * first > 0
    assert {c for c, _, _ in scorer.asked} == {"red ball"}  # template questions for a bare class name
    assert any("just beginning" in q for _, qs, _ in scorer.asked for q in qs)


def test_the_class_filter_scores_only_the_best_matching_class(dataset, tmp_path):
    scorer = tiny_scorer()
    localize_actions(dataset.skip(1), make_engine(), "z", method="zeal", scorer=scorer, queries=QUERIES,
                     class_filter=1, spatial=False, cache_dir=str(tmp_path))
    assert {c for c, _, _ in scorer.asked} == {"red ball"}  # two.mp4 shows only red
    assert {d.label for d in dataset.skip(1).first()["z"].detections} <= {"RedBall"}


def test_class_filter_takes_the_mean_of_eight_spread_frames():
    frames = np.zeros((12, 3))
    frames[[0, 1], 0] = 1.0  # two red frames among the eight: 0, 1, 3, 4, 6, 7, 9, 11
    frames[[2, 5, 8, 10], 1] = 1.0  # four green frames, none of them among the eight
    frames[[3], 2] = 1.0
    text = np.eye(3) * [2.0, 1.0, 3.0]  # norms do not matter
    assert class_filter(frames, text, 1) == [0]
    assert class_filter(frames, text, 2) == [0, 2]
    with pytest.raises(ValueError, match="at least one"):
        class_filter(frames, text, 0)


def test_a_query_file_gives_the_questions_of_each_video_pool(dataset, tmp_path, caplog):
    path = tmp_path / "queries.json"
    path.write_text(json.dumps(QUERIES))
    scorer = tiny_scorer()
    localize_actions(dataset, make_engine(), "z", method="zeal", scorer=scorer, queries=str(path),
                     pool_field="actions", spatial=False, cache_dir=str(tmp_path / "c"))
    assert sorted(c for c, _, _ in scorer.asked) == ["Unlisted", "blue cup", "red ball"]
    assert "no queries for the class 'Unlisted'" in caplog.text
    one, two = dataset.values("z")
    assert {d.label for d in one.detections} <= {"RedBall", "Unlisted"}
    assert {d.label for d in two.detections} <= {"BlueCup"}


def test_bad_combinations_are_refused(dataset):
    scorer = tiny_scorer()
    with pytest.raises(ValueError, match="method='zeal'"):
        localize_actions(dataset, make_engine(), "z", method="www", scorer=scorer, queries=["RedBall"])
    with pytest.raises(ValueError, match="needs scorer"):
        localize_actions(dataset, make_engine(), "z", method="zeal", class_filter=2, queries=["RedBall"])
    with pytest.raises(ValueError, match="not both"):
        localize_actions(dataset, make_engine(), "z", method="zeal", scorer=scorer, queries=["RedBall"],
                         start_end_scorer=lambda scan, q: None)
    with pytest.raises(ValueError, match="description"):
        localize_actions(dataset, make_engine(), "z", method="zeal", scorer=scorer,
                         queries={"RedBall": {"start": "a?", "end": "b?"}})
    assert scorer.forwards == 0


# ----------------------------------------------------------------------------------- end to end
# The vision-language model is replaced here by a scorer whose answers are known: a YesNoScorer (the
# real tiny model behind it gives the score cache its fingerprint) whose ``score`` answers each
# question from the frame's pixels. A ball rolls from left to right while its action lasts, so the
# start question ("is the ball entering at the left?") is "yes" in the first frames of the run and the
# end question ("is the ball at the right?") in the last ones.
SIDE = 12  # the ball, a square
RUNS = {"red ball": (range(31, 71), (230, 30, 30), 4),  # seconds 3.0-6.9 of 12, in the top row
        "blue ball": (range(81, 111), (30, 30, 230), 30)}  # seconds 8.0-10.9, in the bottom row
ROLLING = {
    "red ball": {"start": "Is a red ball entering at the left?", "end": "Is the red ball at the right?",
                 "description": "a red ball rolling"},
    "blue ball": {"start": "Is a blue ball entering at the left?", "end": "Is the blue ball at the right?",
                  "description": "a blue ball rolling"},
}


def ball_box(name, number):
    """``(x1, y1, x2, y2)`` of the ball in a frame (1-based), or None when it is not on screen."""
    run, _, top = RUNS[name]
    if number not in run:
        return None
    x = round((number - run[0]) * (WIDTH - SIDE) / (len(run) - 1))
    return x, top, x + SIDE, top + SIDE


def write_rolling_video(path):
    def paint(image, number):
        for name, (_, colour, _) in RUNS.items():
            box = ball_box(name, number)
            if box is not None:
                image[box[1]:box[3], box[0]:box[2]] = colour

    return write_frames(path, paint)


class PixelAnswers(YesNoScorer):
    """Answers each start/end question from the pixels: p(yes) grows as the ball of the question's colour is
    nearer the question's side, and is low when there is no such ball. Counts its calls."""

    CHANNEL = {"red": 0, "blue": 2}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls = []

    def score(self, frames, questions, context=None, share_prefix=None):
        self.calls.append((context, list(questions), len(frames)))
        out = np.zeros((len(frames), len(questions)))
        for q, question in enumerate(questions):
            channel = self.CHANNEL[question.split()[2]]  # "Is a red ball ...", "Is the blue ball ..."
            at_start = "entering" in question
            for i, frame in enumerate(frames):
                rgb = np.asarray(frame, np.int32)
                others = [c for c in range(3) if c != channel]
                mask = (rgb[..., channel] > 150) & (rgb[..., others].max(axis=-1) < 100)
                if mask.sum() < SIDE:
                    out[i, q] = 0.02
                    continue
                centre = np.nonzero(mask)[1].mean() / (rgb.shape[1] - 1)  # 0 left, 1 right
                out[i, q] = 0.05 + 0.9 * ((1 - centre) if at_start else centre)
        return out


@pytest.fixture(scope="module")
def rolling_video(tmp_path_factory):
    return write_rolling_video(tmp_path_factory.mktemp("rolling") / "rolling.mp4")


def test_zeal_recovers_the_planted_actions_end_to_end(make_dataset, rolling_video, tmp_path):
    """``localize_actions(method="zeal")`` on a decoded video finds each ball from its first to its last
    sampled frame on screen: swapped start and end questions, swapped yes and no or scores put on the
    neighbouring sampled frames would each move or lose these segments."""
    base = YesNoScorer.from_config("idefics3", device="cpu")
    scorer = PixelAnswers(base.model, base.processor, name="pixel-answers")
    dataset = make_dataset()
    dataset.add_sample(fo.Sample(filepath=rolling_video))
    run = dict(method="zeal", scorer=scorer, queries=ROLLING, cache_dir=str(tmp_path))
    summary = localize_actions(dataset, make_engine(), "z", **run)
    assert summary.videos_localized == 1 and summary.videos_failed == 0

    step = FPS  # frames between two sampled frames at 1 fps
    sampled = list(range(1, SECONDS * FPS + 1, step))  # 1, 11, ..., 111
    assert sorted(c for c, _, _ in scorer.calls) == ["blue ball", "red ball"]
    assert all(n == len(sampled) for _, _, n in scorer.calls)  # every sampled frame, once per class

    sample = dataset.first()
    detections = sample["z"].detections
    assert {d.label for d in detections} == set(RUNS)
    for name, (run_frames, _, _) in RUNS.items():
        best = max((d for d in detections if d.label == name), key=lambda d: d.confidence)
        inside_run = [n for n in sampled if n in run_frames]
        assert best.support == [inside_run[0], inside_run[-1]], (name, best.support)
        first, last = run_frames[0], run_frames[-1]
        assert abs(best.support[0] - first) < step and abs(best.support[1] - last) < step

        points_field, _ = spatial_fields("z")
        for number in range(best.support[0], best.support[1] + 1, step):
            keypoints = sample.frames[number][points_field]
            assert keypoints is not None, (name, number)
            final = keypoints.keypoints[0]
            assert final.label == name
            x1, y1, x2, y2 = ball_box(name, number)
            x, y = final.points[0][0] * WIDTH, final.points[0][1] * HEIGHT
            assert x1 - 1 <= x <= x2 + 1 and y1 - 1 <= y <= y2 + 1, (name, number, (x, y))

    calls = len(scorer.calls)
    before = [(d.label, d.support, d.confidence) for d in detections]
    localize_actions(dataset, make_engine(), "z", overwrite=True, segment_options={"top_p": 0.6, "lam": 0.5}, **run)
    assert len(scorer.calls) == calls  # every score came from the score cache
    after = [(d.label, d.support, d.confidence) for d in dataset.first()["z"].detections]
    assert after != before  # the proposals were made again, with the other options
