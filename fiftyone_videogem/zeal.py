"""ZEAL on FiftyOne videos: a yes/no vision-language scorer as the start/end scorer of
``localize_actions(..., method="zeal")``.

ZEAL (Aklilu et al., 2025) asks a vision-language model, for every sampled frame and every candidate
class, whether the archetypal start (and end) of the action is visible, and turns the two confidence
curves into scored intervals (:func:`fiftyone_videogem.temporal.propose_intervals`). This module holds
the piece between :func:`fiftyone_videogem.localize_actions` and a
:class:`~fiftyone_videogem.temporal.YesNoScorer`:

* :class:`ZealScorer`: a :data:`~fiftyone_videogem.localization.StartEndScorer` that asks each
  class's start and end questions (ZEAL's query format, :mod:`fiftyone_videogem.temporal.queries`),
  with the class in words as the prompt's context. Its :meth:`ZealScorer.prepare` gives the
  segmentation the class **descriptions** for the actionness term (cosine of each frame with the
  description, as ZEAL does) and applies ZEAL's optional **class filter** (the mean image embedding
  of 8 frames spread evenly over the video against the descriptions; the top ``k`` classes are kept)
  and its rule that skips a class whose mean score is below 0.1.
* :class:`ScoreCache`: the scores of one (video, class, question, model) per file, so that running
  the proposal step again with other ``segment_options`` (or another class set that shares classes)
  makes no model call.

``localize_actions(samples, model, "found", method="zeal", scorer="smolvlm-256m", queries="thumos14.json")``
builds a :class:`ZealScorer` with :func:`zeal_start_end_scorer`; pass a :class:`ZealScorer` as
``start_end_scorer=`` to set everything yourself. See ``docs/zeal.md``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from .localization import VideoScan
    from .temporal.scorer import YesNoScorer

logger = logging.getLogger(__name__)

FILTER_FRAMES = 8
"""Frames, spread evenly over the video, whose mean embedding ZEAL's class filter compares with the
descriptions."""

THUMOS_TOP_K = 3
"""Classes ZEAL's filter keeps per video on THUMOS14 (5 on ActivityNet)."""

MIN_MEAN_SCORE = 0.1
"""ZEAL skips a class whose mean start and end score over the video is below this (not when the
video-level labels are known)."""

FRAMES_PER_PASS = 64
"""Sampled frames decoded and scored together (bounds the memory of long videos)."""


# ------------------------------------------------------------------------------------- cache
def scorer_fingerprint(scorer: YesNoScorer) -> str:
    """What identifies a scorer's answers: its :meth:`~YesNoScorer.config` (name, prompt, answer tokens,
    dtype, processor options) and a digest of rows of its output layer (two checkpoints of one
    architecture do not share scores)."""
    import torch

    digest = ""
    head = scorer.model.get_output_embeddings() if hasattr(scorer.model, "get_output_embeddings") else None
    if head is not None and getattr(head, "weight", None) is not None:
        weight = head.weight.detach()
        rows = weight[:: max(1, weight.shape[0] // 256)].to(device="cpu", dtype=torch.float32).numpy()
        digest = hashlib.sha1(np.ascontiguousarray(rows).tobytes()).hexdigest()[:16]
    return json.dumps(scorer.config(), sort_keys=True, default=str) + "|" + digest


class ScoreCache:
    """A file store of yes/no scores: one ``.npz`` file per video, class, question and model.

    The file name is a digest of the video's absolute path, modification time and size (as the
    embedding cache names its files), the scorer's :func:`scorer_fingerprint`, the prompt's context
    and the question. A file holds the sampled frame numbers and the score of each; scores are used
    only for the same frames. Files are written atomically; an unreadable file is ignored (and
    rewritten). Delete the directory to free the space.

    Args:
        directory: where the files live (created when needed)
        fingerprint: the scorer's :func:`scorer_fingerprint`
    """

    def __init__(self, directory: str, fingerprint: str):
        self.directory = os.fspath(directory)
        self.fingerprint = fingerprint

    @staticmethod
    def directory_for(cache_dir: Optional[str] = None) -> str:
        """The folder ``scores`` inside the embedding cache's directory (``cache_dir``, or
        :meth:`~fiftyone_videogem.localization.EmbeddingCache.default_directory`)."""
        from .localization import EmbeddingCache

        return os.path.join(cache_dir or EmbeddingCache.default_directory(), "scores")

    def path(self, video_path: str, context: str, question: str) -> Optional[str]:
        """The cache file of one video and question (None when the video file cannot be read): named as
        the embedding cache names its files, with the context and the question in the fingerprint."""
        from .localization import EmbeddingCache

        return EmbeddingCache(self.directory, "|".join((self.fingerprint, context, question))).path(video_path, 0.0)

    def load(self, video_path: str, context: str, question: str, frame_numbers: Sequence[int]) -> Optional[np.ndarray]:
        """The cached scores ``[T]`` of these frames, or None."""
        from .localization import read_npz

        path = self.path(video_path, context, question)
        data = read_npz(path, "scores")
        if data is None:
            return None
        if "frame_numbers" not in data or "scores" not in data:
            logger.warning("cached scores '%s' could not be read (arrays missing); computing them again", path)
            return None
        if not np.array_equal(data["frame_numbers"], np.asarray(frame_numbers, np.int64)):
            return None
        return data["scores"].astype(np.float64)

    def save(self, video_path: str, context: str, question: str, frame_numbers: Sequence[int],
             scores: np.ndarray) -> None:
        from .localization import write_npz

        path = self.path(video_path, context, question)
        if path is not None:
            write_npz(path, frame_numbers=np.asarray(frame_numbers, np.int64), scores=np.asarray(scores, np.float64))


# ------------------------------------------------------------------------------ class filter
def class_filter(frame_embeddings: np.ndarray, description_embeddings: np.ndarray, top_k: int,
                 num_frames: int = FILTER_FRAMES) -> list[int]:
    """ZEAL's class filter: the ``top_k`` classes whose description is most similar to the video.

    The video is the mean of the embeddings of ``num_frames`` sampled frames spread evenly over it
    (``linspace(0, T - 1, num_frames)``, truncated); the similarity is its dot product with each
    L2-normalised description embedding, as ZEAL computes it.

    Args:
        frame_embeddings: ``[T, E]`` L2-normalised frame embeddings
        description_embeddings: ``[C, E]`` the descriptions' text embeddings
        top_k: classes to keep
        num_frames (8): frames of the mean

    Returns:
        the indices of the kept classes, increasing
    """
    if int(top_k) < 1:
        raise ValueError(f"the class filter keeps at least one class; got top_k={top_k!r}")
    frames = np.asarray(frame_embeddings, np.float64)
    text = np.asarray(description_embeddings, np.float64)
    if not len(frames) or not len(text):
        return []
    picked = np.linspace(0, len(frames) - 1, num_frames).astype(int)
    text = text / np.maximum(np.linalg.norm(text, axis=1, keepdims=True), 1e-12)
    similarity = text @ frames[picked].mean(axis=0)
    order = np.argsort(-similarity, kind="stable")
    return sorted(int(i) for i in order[: int(top_k)])


# ---------------------------------------------------------------------------------- scorer
class ZealScorer:
    """ZEAL's start/end scores of a :class:`~fiftyone_videogem.temporal.YesNoScorer`, for
    ``localize_actions(..., method="zeal", start_end_scorer=ZealScorer(...))``.

    For each sampled frame and class it asks the class's ``start`` and ``end`` questions (one call
    of :meth:`YesNoScorer.score` per class and chunk of frames, so the two questions share the image
    prefix), with the class in words (:func:`~fiftyone_videogem.temporal.queries.action_phrase`) as
    the prompt's ``{context}``. A class without queries gets the template queries (logged once).

    Args:
        scorer: the yes/no scorer
        queries: ZEAL's queries ``{class: {"start", "end", "description"}}`` (a dict, or a file for
            :func:`~fiftyone_videogem.temporal.load_queries`)
        top_k (None): keep only the ``top_k`` classes of :func:`class_filter` per video (None: all)
        min_mean_score (None): skip a class whose mean start and end score over the video is below
            this (ZEAL: :data:`MIN_MEAN_SCORE` in its zero-shot setting)
        cache (None): a :class:`ScoreCache` (None: scores are not kept between runs)

    Attributes:
        questions_scored: (video, class, question) curves computed by the model
        questions_from_cache: curves read from the cache
        classes_filtered: classes left out by the class filter
        classes_skipped: classes left out by ``min_mean_score``
    """

    def __init__(self, scorer: YesNoScorer, queries: Mapping | str | os.PathLike, *, top_k: Optional[int] = None,
                 min_mean_score: Optional[float] = None, cache: Optional[ScoreCache] = None):
        from .temporal.queries import load_queries, validate_queries

        if top_k is not None and int(top_k) < 1:
            raise ValueError(f"the class filter keeps at least one class; got {top_k!r}")
        self.scorer = scorer
        self.queries = load_queries(queries) if isinstance(queries, (str, os.PathLike)) else validate_queries(queries)
        self.top_k = None if top_k is None else int(top_k)
        self.min_mean_score = min_mean_score
        self.cache = cache
        self.questions_scored = 0
        self.questions_from_cache = 0
        self.classes_filtered = 0
        self.classes_skipped = 0
        self._memo: tuple[Any, dict[str, np.ndarray]] = (None, {})

    def config(self) -> dict[str, Any]:
        """A JSON-able description (for run records)."""
        return dict(scorer=self.scorer.config(), top_k=self.top_k, min_mean_score=self.min_mean_score,
                    queries=self.queries)

    def queries_of(self, name: str) -> dict[str, str]:
        """The start/end/description of a class (the templates when it has none)."""
        if name not in self.queries:
            from .temporal.queries import template_queries

            logger.warning("no queries for the class '%s'; using the template queries", name)
            self.queries[name] = template_queries([name])[name]
        return self.queries[name]

    # ------------------------------------------------------------------------------- stages
    def prepare(self, scan: VideoScan, classes: Sequence[str], embed_texts: Callable[[list[str]], np.ndarray]
                ) -> tuple[list[str], np.ndarray]:
        """The classes to localise in one video and the embeddings of their descriptions (the
        actionness texts): the class filter and ``min_mean_score`` applied.

        Args:
            scan: the video's sampled frames and embeddings
            classes: the candidate classes
            embed_texts: the backbone's text encoder (texts -> ``[N, E]``)
        """
        classes = list(classes)
        text = np.asarray(embed_texts([self.queries_of(c)["description"] for c in classes]), np.float32)
        keep = list(range(len(classes)))
        if self.top_k is not None and len(classes) > self.top_k:
            keep = class_filter(scan.embeddings, text, self.top_k)
            self.classes_filtered += len(classes) - len(keep)
        if self.min_mean_score is not None and keep:
            scores = self.scores(scan, [classes[i] for i in keep])
            kept = [i for i in keep if float(np.mean(scores[classes[i]])) >= self.min_mean_score]
            self.classes_skipped += len(keep) - len(kept)
            keep = kept
        return [classes[i] for i in keep], text[keep]

    def __call__(self, scan: VideoScan, classes: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(start [T, C], end [T, C])``: p(yes) of each class's start and end question."""
        scores = self.scores(scan, classes)
        t = len(scan.frame_numbers)
        start = np.stack([scores[c][:, 0] for c in classes], axis=1) if classes else np.zeros((t, 0))
        end = np.stack([scores[c][:, 1] for c in classes], axis=1) if classes else np.zeros((t, 0))
        return start, end

    def scores(self, scan: VideoScan, classes: Sequence[str]) -> dict[str, np.ndarray]:
        """``{class: [T, 2]}`` start and end scores, from memory, the cache or the model."""
        key = (scan.sample_id, scan.filepath, tuple(scan.frame_numbers))
        if self._memo[0] != key:
            self._memo = (key, {})
        memo = self._memo[1]
        todo: dict[str, list[int]] = {}  # class -> the columns (0 start, 1 end) to compute
        for name in classes:
            if name in memo:
                continue
            entry = self.queries_of(name)
            columns = np.full((len(scan.frame_numbers), 2), np.nan)
            for k, kind in enumerate(("start", "end")):
                cached = (self.cache.load(scan.filepath, _context(name), entry[kind], scan.frame_numbers)
                          if self.cache is not None else None)
                if cached is not None and cached.shape == (len(scan.frame_numbers),):
                    columns[:, k] = cached
                    self.questions_from_cache += 1
                else:
                    todo.setdefault(name, []).append(k)
            memo[name] = columns
        if todo:
            self._score(scan, todo, memo)
        return {name: memo[name] for name in classes}

    def _score(self, scan: VideoScan, todo: dict[str, list[int]], memo: dict[str, np.ndarray]) -> None:
        """Runs the model on the video's sampled frames for the missing questions, and caches them."""
        index = {n: i for i, n in enumerate(scan.frame_numbers)}
        chunk: list[tuple[int, np.ndarray]] = []
        last = None
        filled = set()

        def flush():
            rows = [i for i, _ in chunk]
            images = [rgb for _, rgb in chunk]
            for name, columns in todo.items():
                entry = self.queries_of(name)
                questions = [entry[("start", "end")[k]] for k in columns]
                memo[name][np.ix_(rows, columns)] = self.scorer.score(images, questions, context=_context(name))
            chunk.clear()

        for number, rgb in scan.frames():
            if number not in index:
                continue
            chunk.append((index[number], rgb))
            filled.add(number)
            last = rgb
            if len(chunk) >= FRAMES_PER_PASS:
                flush()
        missing = [n for n in scan.frame_numbers if n not in filled]
        if missing and last is None:
            raise ValueError(f"no sampled frame of '{scan.filepath}' could be decoded for the yes/no scorer")
        if missing:
            logger.warning("video '%s': frames %s could not be decoded; the last decoded frame stands in for them",
                           scan.filepath, missing[:10])
            chunk.extend((index[n], last) for n in missing)
        if chunk:
            flush()
        for name, columns in todo.items():
            entry = self.queries_of(name)
            for k in columns:
                self.questions_scored += 1
                if self.cache is not None:
                    try:
                        self.cache.save(scan.filepath, _context(name), entry[("start", "end")[k]], scan.frame_numbers,
                                        memo[name][:, k])
                    except OSError as e:
                        logger.warning("could not cache the scores of '%s': %s", scan.filepath, e)


def _context(name: str) -> str:
    from .temporal.queries import action_phrase

    return action_phrase(name)


# ----------------------------------------------------------------------- localize_actions hook
def is_query_source(queries: Any) -> bool:
    """Whether ``queries`` is a ZEAL query source (a ``{class: {...}}`` dict, or a ``.json`` file or an
    existing file) rather than a list of phrases."""
    if isinstance(queries, Mapping):
        return True
    if isinstance(queries, (str, os.PathLike)):
        path = os.fspath(queries)
        return path.lower().endswith(".json") or os.path.isfile(path)
    return False


def zeal_start_end_scorer(
    method: str,
    scorer: Any,
    queries: Any,
    pool_field: Optional[str],
    start_end_scorer: Any = None,
    *,
    class_filter: Optional[int] = None,
    cache_dir: Optional[str] | bool = None,
    device: Any = None,
) -> tuple[ZealScorer, Optional[list[str]]]:
    """The :class:`ZealScorer` of ``localize_actions(method="zeal", scorer=..., queries=...)`` and the
    queries list ``localize_actions`` then works with.

    Args:
        method: must be ``"zeal"``
        scorer: a :class:`~fiftyone_videogem.temporal.YesNoScorer` or a name for
            :func:`~fiftyone_videogem.temporal.scorer.load_scorer`
        queries: a ZEAL query source (dict or file: its classes are looked for, or with ``pool_field``
            each video's pool, whose questions it gives), a list of classes (template queries), or None
            with ``pool_field`` (template queries)
        pool_field: ``localize_actions``'s ``pool_field``
        start_end_scorer (None): must be None (a scorer is given once)
        class_filter (None): ZEAL's class filter, top k classes per video; with it, classes with a mean
            score below :data:`MIN_MEAN_SCORE` are skipped, as in ZEAL's zero-shot setting
        cache_dir (None): the embedding cache's directory (None: the default; False: no score cache)
        device (None): where a named scorer is loaded

    Returns:
        ``(start_end_scorer, queries)`` for ``localize_actions``
    """
    from .temporal.queries import load_queries, resolve_queries, validate_queries
    from .temporal.scorer import load_scorer

    if method != "zeal":
        raise ValueError(f"scorer= and class_filter= are options of method='zeal', not of method={method!r}")
    if scorer is None:
        raise ValueError("class_filter= needs scorer= (a yes/no scorer or its name)")
    if start_end_scorer is not None:
        raise ValueError("pass either scorer= (a yes/no scorer, with queries) or start_end_scorer=, not both")
    if is_query_source(queries):
        source = validate_queries(queries) if isinstance(queries, Mapping) else load_queries(queries)
        query_list = None if pool_field is not None else list(source)
    else:
        query_list = queries
        source = resolve_queries([queries] if isinstance(queries, str) else list(queries or []))
    yes_no = load_scorer(scorer, device=device)
    cache = None if cache_dir is False else ScoreCache(ScoreCache.directory_for(cache_dir), scorer_fingerprint(yes_no))
    adapter = ZealScorer(yes_no, source, top_k=class_filter,
                         min_mean_score=MIN_MEAN_SCORE if class_filter is not None else None, cache=cache)
    return adapter, query_list
