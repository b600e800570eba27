"""When and where in untrimmed videos: :func:`localize_actions`.

For every video of a collection:

1. **Sampling**: frames at ``fps`` samples per second, frame ``floor(k * video_fps / fps) + 1`` for
   ``k = 0, 1, ...`` (:func:`sampled_frame_numbers`, the importers' rule).
2. **Embedding**: one global embedding per sampled frame at the backbone's native resolution
   (``VideoGEM.embed_frames``; video backbones embed the window of ``num_frames`` frames around each
   sampled frame). Embeddings are **cached** per video file and backbone (:class:`EmbeddingCache`), so
   a second set of queries over the same videos costs only text encoding and segmentation.
3. **Scoring and segmentation** of the queries (a fixed list, or each video's own pool from a field)
   by ``method``: ``"www"`` (WWW: each frame takes the best query of the pool or background),
   ``"contrast"`` (T3AL0/FreeZAD, each query on its own) or ``"zeal"`` (ZEAL's interval proposals from
   start/end scores that a pluggable scorer gives, see :data:`StartEndScorer`); see
   :mod:`fiftyone_videogem.temporal` and ``docs/temporal.md``.
4. **Spatial grounding** (``spatial=True``): at every sampled frame inside a segment, VideoGEM grounds
   the phrase of the highest-confidence segment covering that frame (the runner's batching and
   decoding, the runner's labels).

What is written, for ``label_field="found"``:

-   ``found`` (sample): ``TemporalDetections``, one per segment: ``label`` = the query, ``support`` =
    inclusive frame numbers (first and last sampled frame of the segment), ``confidence`` = the
    segment's score;
-   ``frames.found_points``: ``Keypoints`` (the final point first, labelled with the phrase, then the
    component points), and ``frames.found_heatmap``: the phrase's ``Heatmap``, on the sampled frames
    inside a segment (:func:`spatial_fields`; the layout of ``run_videogem``'s labels);
-   ``found_error`` (sample): why a video could not be (fully) processed, or None.

Videos that already have ``found`` are skipped unless ``overwrite=True`` (a rerun resumes). The sample
field is written last, after the frames of the video, so a video with it is complete. Videos without
``metadata`` get the one read while decoding them.

Example::

    import fiftyone_videogem as fvg

    summary = fvg.localize_actions(dataset, "clip-vit-b-16", "found", pool_field="actions")
    clips = dataset.to_clips("found")  # one clip per found segment, with its points and heatmaps
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import logging
import math
import os
import tempfile
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional, Sequence

import numpy as np

import fiftyone as fo
import fiftyone.core.fields as fof
import fiftyone.core.labels as fol
import fiftyone.core.utils as fou

from . import fields as fvf
from . import labels as fvl
from . import runs as fvr
from .datasets.common import PROMPT_PARSER_FIELD, video_metadata
from .video import (
    FrameDecoder,
    VideoError,
    VideoInfo,
    context_frame_numbers,
    seconds_to_frame_number,
    stride_in_frames,
)

if TYPE_CHECKING:  # pragma: no cover
    from .engine.grounding import VideoGEM
    from .model import VideoGEMModel
    from .temporal.segmentation import Segment

logger = logging.getLogger(__name__)

METHODS = ("www", "contrast", "zeal")
CACHE_VERSION = 1
DEFAULT_CONTEXT_STRIDE = 0.25
"""Seconds between the frames of a video backbone's window (the grounding runs' default)."""
VIDEOS_PER_CHUNK = 8
"""Videos embedded, segmented, grounded and written together (batches span the videos of a chunk)."""


# ------------------------------------------------------------------------------------ naming
def sampled_frame_numbers(frame_rate: float, num_frames: int, fps: float = 1.0) -> list[int]:
    """The frames of a video sampled at ``fps``: frame ``floor(k * frame_rate / fps) + 1`` for ``k = 0, 1, ...``
    up to the last frame (the importers' rule: the frame on screen at ``k / fps`` seconds).

    Args:
        frame_rate: the video's frame rate
        num_frames: the video's number of frames
        fps (1.0): samples per second

    Returns:
        increasing 1-based frame numbers (two samples on one frame, when ``fps`` exceeds the frame rate,
        give it once)
    """
    if not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a positive number of samples per second, got {fps!r}")
    if not (math.isfinite(frame_rate) and frame_rate > 0):
        raise ValueError(f"the video's frame rate must be positive, got {frame_rate!r}")
    numbers: list[int] = []
    k = 0
    while True:
        n = seconds_to_frame_number(k / fps, frame_rate)
        if n > num_frames:
            return numbers
        if not numbers or n != numbers[-1]:
            numbers.append(n)
        k += 1


def written_fields(label_field: str, spatial: bool = True) -> list[str]:
    """Every field a localisation into ``label_field`` writes, as the root dataset names them."""
    fields = [label_field, fvl.error_field(label_field)]
    if spatial:
        fields += [fvf.FRAMES_PREFIX + name for name in spatial_fields(label_field)]
    return fields


def spatial_fields(label_field: str) -> tuple[str, str]:
    """The frame fields of a localisation's spatial grounding: ``(<label_field>_points, <label_field>_heatmap)``."""
    return f"{label_field}_points", fvl.heatmap_field(label_field)


# ------------------------------------------------------------------------------------- cache
def backbone_fingerprint(engine: VideoGEM, context_stride: float = DEFAULT_CONTEXT_STRIDE) -> str:
    """What identifies a backbone's frame embeddings: its name, native size, window and a digest of its
    projection weights (so two checkpoints of one architecture do not share embeddings)."""
    info = engine.info
    proj = engine.backbone.proj.detach().float().cpu().numpy()
    digest = hashlib.sha1(np.ascontiguousarray(proj).tobytes()).hexdigest()[:16]
    window = f"{info.num_frames}x{context_stride:g}s" if info.num_frames > 1 else "1"
    native = "x".join(str(v) for v in engine.backbone.native_size)
    return f"{info.name}|{native}|{window}|{digest}|v{CACHE_VERSION}"


@dataclass
class CachedEmbeddings:
    """The frame embeddings of one video at one sampling rate.

    Attributes:
        frame_numbers: the sampled frames, increasing
        embeddings: float32 ``[T, E]``, L2-normalised
        frame_rate, num_frames, width, height: the video as it was decoded
    """

    frame_numbers: np.ndarray
    embeddings: np.ndarray
    frame_rate: float
    num_frames: int
    width: int
    height: int


def read_npz(path: Optional[str], what: str) -> Optional[dict[str, np.ndarray]]:
    """The arrays of a cache file, or None when there is none or it cannot be read (then logged as
    ``what`` that will be computed again)."""
    if path is None or not os.path.isfile(path):
        return None
    try:
        with np.load(path) as data:
            return {name: data[name] for name in data.files}
    except (OSError, ValueError) as e:
        logger.warning("cached %s '%s' could not be read (%s); computing them again", what, path, e)
        return None


def write_npz(path: str, **arrays) -> None:
    """Writes a cache file atomically: to a temporary file in its folder, then renamed over ``path``,
    so that a reader never sees half a file."""
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=directory, suffix=".npz.tmp")
    try:
        with os.fdopen(handle, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


class EmbeddingCache:
    """A file store of frame embeddings, one ``.npz`` file per video, backbone and sampling rate.

    The file name is a digest of the video's absolute path, its modification time and size, the
    backbone's :func:`backbone_fingerprint` and ``fps``: an edited video or another backbone never
    reads stale embeddings. Files are written atomically; an unreadable file is ignored (and
    rewritten). Delete the directory to free the space.

    Args:
        directory: where the files live (created when needed)
        fingerprint: the backbone's :func:`backbone_fingerprint`
    """

    def __init__(self, directory: str, fingerprint: str):
        self.directory = os.fspath(directory)
        self.fingerprint = fingerprint

    @staticmethod
    def default_directory() -> str:
        """``<fo.config.default_dataset_dir>/videogem/embeddings``."""
        return os.path.join(fo.config.default_dataset_dir, "videogem", "embeddings")

    def path(self, video_path: str, fps: float) -> Optional[str]:
        """The cache file of a video (None when the video file cannot be read)."""
        try:
            stat = os.stat(video_path)
        except OSError:
            return None
        key = f"{os.path.abspath(video_path)}|{stat.st_mtime_ns}|{stat.st_size}|{self.fingerprint}|{fps!r}"
        return os.path.join(self.directory, hashlib.sha1(key.encode()).hexdigest() + ".npz")

    def load(self, video_path: str, fps: float) -> Optional[CachedEmbeddings]:
        path = self.path(video_path, fps)
        data = read_npz(path, "embeddings")
        try:
            return None if data is None else CachedEmbeddings(
                frame_numbers=data["frame_numbers"].astype(np.int64),
                embeddings=data["embeddings"].astype(np.float32),
                frame_rate=float(data["frame_rate"]), num_frames=int(data["num_frames"]),
                width=int(data["width"]), height=int(data["height"]),
            )
        except (KeyError, ValueError) as e:
            logger.warning("cached embeddings '%s' could not be read (%s); computing them again", path, e)
            return None

    def save(self, video_path: str, fps: float, entry: CachedEmbeddings) -> None:
        path = self.path(video_path, fps)
        if path is not None:
            write_npz(path, **dataclasses.asdict(entry))


# ----------------------------------------------------------------------------- segmentation
@dataclass
class VideoScan:
    """One video's sampled frames and their embeddings: what a segmentation method works on.

    Attributes:
        sample_id: the sample's ID
        filepath: the video file
        frame_numbers: the sampled frames (1-based), increasing
        embeddings: float32 ``[T, E]`` L2-normalised frame embeddings
        frame_rate: the video's frame rate
    """

    sample_id: str
    filepath: str
    frame_numbers: list[int]
    embeddings: np.ndarray
    frame_rate: float

    def frames(self) -> Iterator[tuple[int, np.ndarray]]:
        """Decodes the sampled frames: ``(frame_number, HxWx3 uint8 RGB)`` in order (for scorers that look
        at the images, such as a vision-language model)."""
        with FrameDecoder(self.filepath) as decoder:
            yield from decoder.frames(self.frame_numbers)


StartEndScorer = Callable[[VideoScan, Sequence[str]], tuple[np.ndarray, np.ndarray]]
"""``scorer(scan, queries) -> (start [T, Q], end [T, Q])``: per sampled frame and query, the evidence that
the action starts (ends) there, for ``method="zeal"``. ZEAL asks a vision-language model yes/no questions
(:class:`fiftyone_videogem.temporal.YesNoScorer`, through :class:`fiftyone_videogem.zeal.ZealScorer`); any
per-frame curves work. A scorer with a method ``prepare(scan, queries, embed_texts) -> (queries, text)``
chooses the video's queries and the texts of their actionness first (ZEAL: its class filter, and the
class descriptions)."""


def _www(scan: VideoScan, queries, text, options, scorer) -> list[Segment]:
    from .temporal import frame_query_scores, www_segments

    return www_segments(frame_query_scores(scan.embeddings, text), **options)


def _contrast(scan: VideoScan, queries, text, options, scorer) -> list[Segment]:
    from .temporal import contrast_segments

    return [
        dataclasses.replace(segment, query=q)
        for q in range(len(queries))
        for segment in contrast_segments(scan.embeddings, text[q], **options)
    ]


def _zeal(scan: VideoScan, queries, text, options, scorer) -> list[Segment]:
    from .temporal import Segment, frame_query_scores, propose_intervals

    if scorer is None:
        raise ValueError(_ZEAL_NEEDS_SCORER)
    start, end = (np.asarray(a, dtype=np.float64).reshape(len(scan.frame_numbers), len(queries)) for a in scorer(scan, queries))
    actionness = frame_query_scores(scan.embeddings, text)  # ZEAL: cosine of each frame with the description
    segments = []
    for q in range(len(queries)):
        intervals, scores = propose_intervals(start[:, q], end[:, q], actionness[:, q], **options)
        segments += [Segment(q, int(s), int(e), float(v)) for (s, e), v in zip(intervals, scores) if s <= e]
    return segments


_ZEAL_NEEDS_SCORER = (
    "method='zeal' needs start and end scores per frame: pass scorer= (a yes/no scorer or its name) with "
    "queries= (ZEAL's query file, or the classes), or start_end_scorer=, a callable "
    "(scan, queries) -> (start [T, Q], end [T, Q]) such as a yes/no vision-language scorer"
)
_SEGMENTERS = {"www": _www, "contrast": _contrast, "zeal": _zeal}


def segment_video(scan: VideoScan, queries: Sequence[str], text: np.ndarray, method: str = "www",
                  options: Optional[dict] = None, start_end_scorer: Optional[StartEndScorer] = None
                  ) -> list[Segment]:
    """The segments of one scanned video for ``queries`` (their text embeddings ``text`` ``[Q, E]``).

    Args:
        scan: the video's sampled frames and embeddings
        queries: the query texts
        text: ``[Q, E]`` text embeddings of ``queries``
        method ("www"): one of :data:`METHODS`
        options (None): keyword arguments of the segmenter (``www_segments``, ``contrast_segments`` or
            ``propose_intervals``)
        start_end_scorer (None): a :data:`StartEndScorer`, required by ``"zeal"``

    Returns:
        :class:`~fiftyone_videogem.temporal.Segment` items, ``query`` indexing ``queries``, ends inclusive
        sampled-frame indices
    """
    if not queries or not len(scan.frame_numbers):
        return []
    return _SEGMENTERS[method](scan, list(queries), text, dict(options or {}), start_end_scorer)


def _check_segment_options(method: str, options: Optional[dict]) -> None:
    """Refuses options the method's segmenter does not take, before any work."""
    import inspect

    from . import temporal

    segmenter = {"www": temporal.www_segments, "contrast": temporal.contrast_segments,
                 "zeal": temporal.propose_intervals}[method]
    parameters = inspect.signature(segmenter).parameters
    accepted = [name for name, p in parameters.items() if p.kind == inspect.Parameter.KEYWORD_ONLY
                or (p.default is not inspect.Parameter.empty)]
    unknown = sorted(set(options or {}) - set(accepted))
    if unknown:
        raise ValueError(f"segment_options {unknown} are not options of method={method!r}; it takes {accepted}")


def to_temporal_detections(segments: Sequence[Segment], queries: Sequence[str], frame_numbers: Sequence[int]
                           ) -> tuple[fol.TemporalDetections, int]:
    """Segments as ``TemporalDetections`` over frame numbers; segments without a finite score are left out.

    Returns:
        the labels and the number of segments left out
    """
    detections, dropped = [], 0
    for s in sorted(segments, key=lambda s: (s.start, s.end, s.query)):
        if not math.isfinite(s.score):
            dropped += 1
            continue
        detections.append(fol.TemporalDetection(
            label=queries[s.query], support=[int(frame_numbers[s.start]), int(frame_numbers[s.end])],
            confidence=float(s.score),
        ))
    return fol.TemporalDetections(detections=detections), dropped


# ---------------------------------------------------------------------------------- the run
@dataclass
class LocalizationSummary:
    """What a localisation run did.

    Attributes:
        label_field: the ``TemporalDetections`` field written
        run_key: the run record's key (None when not recorded)
        videos_total: videos in the collection
        videos_localized: videos processed by this run
        videos_up_to_date: videos skipped because they had results already
        videos_failed: videos with a failure (some may still have results)
        segments: segments written
        frames_embedded: sampled frames embedded by this run
        frames_from_cache: sampled frames whose embeddings came from the cache
        frames_grounded: frames grounded spatially
        failures: ``{"sample_id", "filepath", "reason"}`` per video with a problem
        seconds: wall time
        embed_seconds: time spent embedding frames (decoding included)
        ground_seconds: time spent grounding (decoding included)
        stopped: why the run ended before every video was done (``"KeyboardInterrupt"``, ``"SIGTERM"``,
            ``"RuntimeError: ..."``), or None when it finished
    """

    label_field: str
    run_key: Optional[str] = None
    videos_total: int = 0
    videos_localized: int = 0
    videos_up_to_date: int = 0
    videos_failed: int = 0
    segments: int = 0
    frames_embedded: int = 0
    frames_from_cache: int = 0
    frames_grounded: int = 0
    failures: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    embed_seconds: float = 0.0
    ground_seconds: float = 0.0
    stopped: Optional[str] = None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def __str__(self) -> str:
        return (
            f"{self.segments} segment(s) in {self.videos_localized} of {self.videos_total} video(s) into "
            f"'{self.label_field}', {self.videos_up_to_date} already done, {self.videos_failed} with failures; "
            f"{self.frames_embedded} frame(s) embedded, {self.frames_from_cache} from the cache, "
            f"{self.frames_grounded} grounded"
            + (f"; stopped early ({self.stopped}): rerun to resume" if self.stopped else "")
        )


@dataclass
class LocalizationProgress:
    """One progress event, sent after each finished video.

    Attributes:
        videos_done: videos finished so far (skipped ones included)
        videos_total: videos in the run
        sample_id: the video just finished
        failure: its failure reason, or None
    """

    videos_done: int
    videos_total: int
    sample_id: Optional[str] = None
    failure: Optional[str] = None


@dataclass
class _Video:
    """A video on its way through the run."""

    sample_id: str
    filepath: str
    queries: list[str]
    has_metadata: bool
    frame_numbers: list[int] = field(default_factory=list)
    embeddings: list[np.ndarray] = field(default_factory=list)
    info: Optional[CachedEmbeddings] = None
    problems: list[str] = field(default_factory=list)
    from_cache: bool = False
    segments: Optional[fol.TemporalDetections] = None
    prompts: dict[int, str] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return bool(self.problems) and self.info is None

    def fail(self, reason: str) -> None:
        self.problems.append(reason)


def _as_engine(model: VideoGEMModel | VideoGEM | str) -> VideoGEM:
    from .engine.grounding import VideoGEM
    from .model import VideoGEMModel, load_model

    if isinstance(model, VideoGEMModel):
        return model.engine
    if isinstance(model, VideoGEM):
        return model
    if isinstance(model, str):
        return load_model(model).engine
    raise TypeError(f"model must be a VideoGEMModel, a VideoGEM engine or a backbone name, got {type(model).__name__}")


def phrase_pool_path(samples, pool_field: str) -> str:
    """The path whose ``values()`` give each video's pool of phrases (a list of strings)."""
    path, schema = fvf.resolve_field(samples, pool_field, "pool_field")
    if fvf.is_frame_path(path):
        raise ValueError(f"pool_field='{path}' is a frame field; name a sample-level list of phrases (e.g. 'actions')")
    if isinstance(schema, fof.ListField) and isinstance(schema.field, fof.StringField):
        return path
    attribute = fvf.label_list_attribute(schema)
    if attribute is not None:
        return f"{path}.{attribute}.label"
    if isinstance(schema, fof.StringField):
        return path
    raise ValueError(
        f"pool_field='{path}' is a {type(schema).__name__} field; use a list of strings or a label-list field "
        "(Classifications, Detections, TemporalDetections) whose labels are the video's phrases"
    )


def _clean_queries(values) -> list[str]:
    if isinstance(values, str):
        values = [values]
    return list(dict.fromkeys(" ".join(str(v).split()) for v in (values or []) if v and str(v).strip()))


def _check_label_field(samples, label_field: Any, inputs: Sequence[str]) -> str:
    if not isinstance(label_field, str) or not label_field.strip() or "." in label_field.strip():
        raise ValueError(f"label_field must be a top-level field name without dots, got {label_field!r}")
    label_field = label_field.strip()
    points, heatmap = spatial_fields(label_field)
    for name, level, expected in ((label_field, "", fol.TemporalDetections), (points, "frames.", fol.Keypoints),
                                  (heatmap, "frames.", fol.Heatmap), (fvl.error_field(label_field), "", None)):
        if name in inputs:
            raise ValueError(f"label_field '{label_field}' would overwrite the input field '{name}'; choose another name")
        schema = samples.get_field(level + name)
        if schema is None:
            continue
        found = fvf.document_type(schema)
        if expected is None:
            if not isinstance(schema, fof.StringField):
                raise ValueError(f"'{name}' exists as a {type(schema).__name__} field; choose another label_field")
        elif found is None or not issubclass(found, expected):
            raise ValueError(
                f"'{level}{name}' already exists as a {getattr(found, '__name__', type(schema).__name__)} field; "
                f"localize_actions writes {expected.__name__} there, so choose another label_field"
            )
    return label_field


class _Localizer:
    """One run of :func:`localize_actions` over one collection."""

    def __init__(self, samples, engine: VideoGEM, label_field: str, *, queries, pool_path, method, fps, spatial,
                 segment_options, start_end_scorer, overwrite, skip_failures, cache, context_stride, heatmaps,
                 run_key, decoder: Callable[[str], FrameDecoder] = FrameDecoder):
        self.samples = samples
        self.engine = engine
        self.label_field = label_field
        self.queries = queries
        self.pool_path = pool_path
        self.method = method
        self.fps = float(fps)
        self.spatial = spatial
        self.segment_options = dict(segment_options or {})
        self.scorer = start_end_scorer
        self.overwrite = overwrite
        self.skip_failures = skip_failures
        self.cache = cache
        self.context_stride = context_stride
        self.heatmaps = heatmaps
        self.run_key = run_key
        self.decoder = decoder
        self.target = fvf.write_target(samples)
        self.summary = LocalizationSummary(label_field=label_field, run_key=run_key)
        self.written: set[str] = set()

    # ------------------------------------------------------------------------------- plans
    def plan(self) -> tuple[list[_Video], int]:
        """The videos to process, and the number already done."""
        paths = ["id", "filepath", "metadata"]
        if self.pool_path:
            paths.append(self.pool_path)
        has_output = self.samples.get_field(self.label_field) is not None
        if has_output:
            paths.append(self.label_field)
        values = dict(zip(paths, self.samples.values(paths)))
        videos, done = [], 0
        for i, (sample_id, filepath) in enumerate(zip(values["id"], values["filepath"])):
            if has_output and values[self.label_field][i] is not None and not self.overwrite:
                done += 1
                continue
            queries = self.queries if self.pool_path is None else _clean_queries(values[self.pool_path][i])
            videos.append(_Video(sample_id, filepath, queries, values["metadata"][i] is not None))
        return videos, done

    # ----------------------------------------------------------------------------- embedding
    def _windows(self, sampled: list[int], frame_rate: float, num_frames: int) -> dict[int, list[int]]:
        info = self.engine.info
        if info.num_frames == 1:
            return {t: [t] for t in sampled}
        stride = stride_in_frames(self.context_stride, frame_rate)
        return {t: context_frame_numbers(t, info.num_frames, info.target_frame, stride, 1, num_frames) for t in sampled}

    def _items(self, video: _Video) -> Iterator[tuple[int, Any]]:
        """``(sampled frame, item for embed_frames)`` of one video, decoded in one pass."""
        with self.decoder(video.filepath) as decoder:
            info = decoder.info
            sampled = sampled_frame_numbers(info.frame_rate, info.num_frames, self.fps)
            video.info = CachedEmbeddings(np.zeros(0, np.int64), np.zeros((0, 0), np.float32), info.frame_rate,
                                          info.num_frames, info.width, info.height)
            windows = self._windows(sampled, info.frame_rate, info.num_frames)
            pending = collections.deque(sampled)
            buffer: dict[int, np.ndarray] = {}
            last = None
            for number, rgb in decoder.frames(sorted({n for w in windows.values() for n in w})):
                buffer[number] = last = rgb
                while pending and windows[pending[0]][-1] <= number:
                    t = pending.popleft()
                    window = windows[t]
                    yield t, (buffer[t] if len(window) == 1 else [buffer.get(n, last) for n in window])
                    low = windows[pending[0]][0] if pending else math.inf
                    for n in [n for n in buffer if n < low]:
                        del buffer[n]
            for t in pending:  # the window reaches past the real end: repeat the last frame decoded
                if t in buffer:
                    yield t, [buffer.get(n, last) for n in windows[t]]

    def _embed(self, batch: list[tuple[_Video, int, Any]]) -> None:
        embeddings = self.engine.embed_frames([item for _, _, item in batch])
        for (video, number, _), embedding in zip(batch, embeddings):
            video.frame_numbers.append(number)
            video.embeddings.append(embedding)
        self.summary.frames_embedded += len(batch)

    def embed(self, videos: list[_Video]) -> None:
        """Fills every video's frame numbers and embeddings, from the cache or by embedding its frames in
        batches that span videos."""
        started = time.perf_counter()
        batch: list[tuple[_Video, int, Any]] = []
        batch_size = max(1, int(self.engine.options.batch_size))
        for video in videos:
            cached = self.cache.load(video.filepath, self.fps) if self.cache is not None else None
            if cached is not None:
                video.info, video.from_cache = cached, True
                video.frame_numbers = [int(n) for n in cached.frame_numbers]
                video.embeddings = list(cached.embeddings)
                self.summary.frames_from_cache += len(video.frame_numbers)
                continue
            try:
                for number, item in self._items(video):
                    batch.append((video, number, item))
                    if len(batch) >= batch_size:
                        self._embed(batch)
                        batch = []
            except VideoError as e:
                video.info = None
                video.fail(str(e))
                batch = [entry for entry in batch if entry[0] is not video]
        if batch:
            self._embed(batch)
        for video in videos:
            if video.from_cache or video.failed:
                continue
            if not video.frame_numbers:
                video.fail(f"video '{video.filepath}' gave no frame to sample")
                video.info = None
                continue
            video.info.frame_numbers = np.asarray(video.frame_numbers, np.int64)
            video.info.embeddings = np.stack(video.embeddings).astype(np.float32)
            if self.cache is not None:
                try:
                    self.cache.save(video.filepath, self.fps, video.info)
                except OSError as e:
                    logger.warning("could not cache the embeddings of '%s': %s", video.filepath, e)
        self.summary.embed_seconds += time.perf_counter() - started

    # -------------------------------------------------------------------------- segmentation
    def segment(self, video: _Video) -> None:
        if video.failed:
            return
        scan = VideoScan(video.sample_id, video.filepath, video.frame_numbers,
                         np.asarray(video.info.embeddings, np.float32), video.info.frame_rate)
        if not video.queries:
            video.fail(f"no phrase to look for in '{self.pool_path}'" if self.pool_path else "no query")
        prepare = getattr(self.scorer, "prepare", None) if self.method == "zeal" else None
        if prepare is not None and video.queries:  # the scorer's classes, and its actionness texts
            video.queries, text = prepare(scan, video.queries, self.engine.embed_texts)
        else:
            text = self.engine.embed_texts(video.queries) if video.queries else np.zeros((0, 0), np.float32)
        segments = segment_video(scan, video.queries, text, self.method, self.segment_options, self.scorer)
        video.segments, dropped = to_temporal_detections(segments, video.queries, video.frame_numbers)
        if dropped:
            logger.info("video %s: %d segment(s) without a finite score left out", video.sample_id, dropped)
        if self.spatial and segments:
            from .temporal import segments_to_labels

            labels = segments_to_labels([s for s in segments if math.isfinite(s.score)], len(video.frame_numbers))
            video.prompts = {video.frame_numbers[i]: video.queries[q] for i, q in enumerate(labels) if q >= 0}

    # ------------------------------------------------------------------------------- spatial
    def _grounding_settings(self):
        from .runner import GroundingSettings

        return GroundingSettings(
            label_field=self.label_field, video=True, prompt=None, fixed_prompt=None, gt=None, labelled=None,
            frames="gt", overwrite=True, heatmaps=self.heatmaps, stride_seconds=float(self.context_stride),
            stride_frames=None, image_mode=False, context_edge=None, prompt_parser=None,
            skip_failures=True, clips=False, run_key=None, hints=(),
        )

    def ground(self, videos: list[_Video]) -> dict[str, dict[str, dict[int, Any]]]:
        """Grounds the phrase of every sampled frame inside a segment; ``{sample_id: {field: {frame: label}}}``."""
        from .runner import Grounder, GroundingSummary, SamplePlan, sample_labels

        wanted = [v for v in videos if v.prompts and not v.failed]
        if not wanted:
            return {}
        started = time.perf_counter()
        settings = self._grounding_settings()
        hints = self._hints([v.sample_id for v in wanted])
        plans = [
            SamplePlan(sample_id=v.sample_id, filepath=v.filepath, frame_prompts=dict(v.prompts),
                       gt_frames=set(v.prompts), prompt_parser=hints.get(v.sample_id))
            for v in wanted
        ]
        by_id = {v.sample_id: v for v in wanted}
        points_name, _ = spatial_fields(self.label_field)
        out = {}
        for state in Grounder(self.engine, settings, GroundingSummary(label_field=points_name),
                              decoder=self.decoder).run(plans):
            video = by_id[state.plan.sample_id]
            if state.error:
                video.fail(state.error)
            try:
                labels = sample_labels(state, settings, self.label_field, file_prefix=self.label_field)
            except OSError as e:
                video.fail(str(e))
                continue
            labels[points_name] = labels.pop(self.label_field, {})
            out[video.sample_id] = labels
            self.summary.frames_grounded += len(state.results)
        self.summary.ground_seconds += time.perf_counter() - started
        return out

    def _hints(self, sample_ids: list[str]) -> dict[str, Optional[str]]:
        """The importers' prompt-parser hint of each video (sample field ``prompt_parser``), if any."""
        root = fvf.root_dataset(self.samples)
        if not fvf.hint_field(root, PROMPT_PARSER_FIELD):
            return {}
        ids, hints = root.select(sample_ids).values(["id", PROMPT_PARSER_FIELD])
        return dict(zip(ids, hints))

    # -------------------------------------------------------------------------------- writing
    def _stale_frames(self, videos: list[_Video]) -> dict[str, set[int]]:
        """Per video, the frames holding spatial labels of an earlier run (cleared before writing)."""
        points_name, _ = spatial_fields(self.label_field)
        spec = fvf.label_spec(self.samples, points_name, fol.Keypoints)
        if spec is None or not self.overwrite:
            return {}
        view = self.samples.select([v.sample_id for v in videos], ordered=True)
        ids, numbers, values = view.values(["id", "frames.frame_number", spec.value_path])
        return {sid: {n for n, v in zip(ns or [], vs or []) if fvf.has_value(v, spec.is_list)}
                for sid, ns, vs in zip(ids, numbers, values)}

    def _set(self, name: str, values: dict) -> None:
        if values:
            self.target.set_values(name, values, key_field="id")
            self.written.add(name)

    def write(self, videos: list[_Video], spatial: dict[str, dict[str, dict[int, Any]]]) -> None:
        stale = self._stale_frames(videos)
        per_field: dict[str, dict[str, dict[int, Any]]] = collections.defaultdict(dict)
        for video in videos:
            old = stale.get(video.sample_id, set()) if video.segments is not None else set()  # kept with its segments
            labels = spatial.get(video.sample_id, {})
            for name in spatial_fields(self.label_field):
                frames = {n: None for n in old}
                frames.update(labels.get(name, {}))
                if frames:
                    per_field[name][video.sample_id] = frames
        for name, values in per_field.items():
            self._set(fvf.FRAMES_PREFIX + name, values)
        metadata = {v.sample_id: self._metadata(v) for v in videos if not v.has_metadata and v.info is not None}
        self._set("metadata", {k: m for k, m in metadata.items() if m is not None})
        errors = {v.sample_id: "; ".join(v.problems) or None for v in videos}
        if self.samples.get_field(fvl.error_field(self.label_field)) is None:
            errors = {k: e for k, e in errors.items() if e is not None}  # the type comes from the first error
        self._set(fvl.error_field(self.label_field), errors)
        self._set(self.label_field, {v.sample_id: v.segments for v in videos if v.segments is not None})

    @staticmethod
    def _metadata(video: _Video) -> Optional[fo.VideoMetadata]:
        info = video.info
        if not os.path.isfile(video.filepath):
            return None
        duration = info.num_frames / info.frame_rate if info.frame_rate else 0.0
        return video_metadata(video.filepath, VideoInfo(video.filepath, info.width, info.height, info.frame_rate,
                                                        info.num_frames, duration))

    # ---------------------------------------------------------------------------------- loop
    def run(self, videos: list[_Video]) -> Iterator[_Video]:
        for start in range(0, len(videos), VIDEOS_PER_CHUNK):
            chunk = videos[start:start + VIDEOS_PER_CHUNK]
            self.embed(chunk)
            for video in chunk:
                self.segment(video)
            spatial = self.ground(chunk) if self.spatial else {}
            self.write(chunk, spatial)
            for video in chunk:
                self.count_video(video)
                yield video

    def count_video(self, video: _Video) -> None:
        """Counts a finished video in the summary (and raises on its failure unless failures are skipped)."""
        s = self.summary
        if video.segments is not None:
            s.videos_localized += 1
            s.segments += len(video.segments.detections)
        if video.problems:
            s.videos_failed += 1
            reason = "; ".join(video.problems)
            s.failures.append({"sample_id": video.sample_id, "filepath": video.filepath, "reason": reason})
            logger.warning("video %s ('%s'): %s", video.sample_id, video.filepath, reason)
            if not self.skip_failures:
                raise RuntimeError(f"video {video.sample_id} ('{video.filepath}'): {reason}")

    def run_config(self) -> dict:
        return dict(
            label_field=self.label_field, fields=written_fields(self.label_field, self.spatial), kind="localize_actions", backbone=self.engine.info.name,
            segmentation=self.method, fps=self.fps, queries=self.queries, pool_field=self.pool_path, spatial=self.spatial,
            segment_options={k: v for k, v in self.segment_options.items() if isinstance(v, (int, float, str, bool))},
        )


def localize_actions(
    samples,
    model: VideoGEMModel | VideoGEM | str,
    label_field: str,
    *,
    queries: Optional[Sequence[str] | str] = None,
    pool_field: Optional[str] = None,
    method: str = "www",
    fps: float = 1.0,
    spatial: bool = True,
    segment_options: Optional[dict] = None,
    start_end_scorer: Optional[StartEndScorer] = None,
    scorer: Optional[Any] = None,
    class_filter: Optional[int] = None,
    overwrite: bool = False,
    skip_failures: bool = True,
    cache_dir: Optional[str] | bool = None,
    context_stride: float = DEFAULT_CONTEXT_STRIDE,
    heatmap_storage: str = "inline",
    map_dir: Optional[str] = None,
    run_key: Optional[str] = None,
    record_run: bool = True,
    progress: bool | Callable[[LocalizationProgress], None] | None = None,
    decoder: Callable[[str], FrameDecoder] = FrameDecoder,
    executor: str = "local",
    address: Optional[str] = None,
    num_workers: Optional[int] = None,
    num_gpus_per_worker: Optional[float] = None,
) -> LocalizationSummary:
    """Finds when (and where) actions happen in the videos of a collection; see the module docstring.

    Args:
        samples: a video collection (dataset or view)
        model: a :class:`~fiftyone_videogem.model.VideoGEMModel`, a VideoGEM engine or a backbone name
        label_field: the sample field of the found segments (``TemporalDetections``); the spatial
            grounding goes to ``frames.<label_field>_points`` and ``frames.<label_field>_heatmap``
        queries (None): the phrases to look for in every video (a list, or one string)
        pool_field (None): instead of ``queries``, a sample field holding each video's own phrases (a list
            of strings, or a label-list field whose labels are the phrases)
        method ("www"): ``"www"`` (each frame takes the best phrase of the pool, or background),
            ``"contrast"`` (each phrase on its own against the video's background) or ``"zeal"`` (ZEAL's
            interval proposals from ``start_end_scorer``)
        fps (1.0): sampled frames per second
        spatial (True): ground the phrase of each sampled frame inside a segment
        segment_options (None): keyword arguments of the segmenter (``theta``, ``bridge``,
            ``min_length``, ``normalize`` for ``"www"``; ``window``, ``threshold``, ``merge_gap``, ... for
            ``"contrast"``; ``propose_intervals``'s for ``"zeal"``)
        start_end_scorer (None): a :data:`StartEndScorer`; ``"zeal"`` needs it or ``scorer``
        scorer (None): ``"zeal"``: a :class:`~fiftyone_videogem.temporal.YesNoScorer` or its name
            (:func:`~fiftyone_videogem.temporal.scorer.load_scorer`), asked each class's start and end
            questions (:class:`~fiftyone_videogem.zeal.ZealScorer`; scores cached in the folder ``scores``
            of ``cache_dir``). ``queries`` is then ZEAL's query source: a ``{class: {"start", "end",
            "description"}}`` dict or a JSON file of it (with ``pool_field``, it gives the questions of
            each video's classes), or class names (template queries)
        class_filter (None): ``"zeal"`` with ``scorer``: keep the ``k`` classes per video whose
            descriptions best match the mean embedding of 8 frames, and skip classes with a mean score
            below 0.1 (ZEAL's zero-shot setting)
        overwrite (False): process videos that already have ``label_field`` again (their spatial labels
            from the earlier run are cleared first)
        skip_failures (True): record a failing video in ``<label_field>_error`` and go on, or raise after
            recording it
        cache_dir (None): directory of the embedding cache (None: :meth:`EmbeddingCache.default_directory`;
            False: no cache)
        context_stride (0.25): seconds between the frames of a video backbone's window
        heatmap_storage ("inline"): ``"inline"`` (float maps at the patch grid in the database) or
            ``"files"`` (PNG files under ``map_dir``)
        map_dir (None): directory of heatmap files (None: the grounding runs' default)
        run_key (None): key of the run record (None: ``"localize_<label_field>"``)
        record_run (True): record the run on the dataset; deleting the run deletes the fields it created
            (a field that existed before, written with ``overwrite=True``, is kept)
        progress (None): True / False / None (FiftyOne's default) for a progress bar, or a callable that gets
            each :class:`LocalizationProgress`
        decoder (FrameDecoder): opens a video for decoding; anything with
            :class:`~fiftyone_videogem.video.FrameDecoder`'s interface (with ``executor="ray"`` it
            travels to the actors, so it must pickle)
        executor ("local"): ``"local"`` scans in this process; ``"ray"`` on a Ray cluster, one work unit per
            video, with the same results (:func:`fiftyone_videogem.distributed.localize_on_ray`; ``model`` may
            then also be an engine factory)
        address, num_workers, num_gpus_per_worker (None): with ``executor="ray"``: the cluster (None: a Ray
            instance on this machine), its actors and the GPUs of each (None: one actor per GPU, or per CPU)

    Returns:
        a :class:`LocalizationSummary`

    Raises:
        ValueError: a bad option or field, or (with ``record_run``) an output field that exists and belongs
            to another run or, without ``overwrite``, to no run (before any work)
    """
    if not fvf.is_video(samples) or fvf.is_clips_view(samples):
        raise ValueError(
            "localize_actions() looks for actions in whole videos: pass a video dataset or a view of one "
            f"(got a {samples.media_type} {'clips view' if fvf.is_clips_view(samples) else 'collection'})"
        )
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if scorer is not None or class_filter is not None:
        from .zeal import zeal_start_end_scorer

        start_end_scorer, queries = zeal_start_end_scorer(method, scorer, queries, pool_field, start_end_scorer,
                                                          class_filter=class_filter, cache_dir=cache_dir)
    if (queries is None) == (pool_field is None):
        raise ValueError("pass either queries=[...] (the same phrases for every video) or pool_field= (each video's own)")
    if not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a positive number of samples per second, got {fps!r}")
    if method == "zeal" and start_end_scorer is None:
        raise ValueError(_ZEAL_NEEDS_SCORER)
    _check_segment_options(method, segment_options)
    query_list = None
    inputs: list[str] = []
    if queries is not None:
        query_list = _clean_queries(queries)
        if not query_list:
            raise ValueError("queries is empty; pass the phrases to look for")
    pool_path = phrase_pool_path(samples, pool_field) if pool_field is not None else None
    if pool_path is not None:
        inputs.append(pool_path.split(".")[0])
    label_field = _check_label_field(samples, label_field, inputs)
    if executor == "ray":
        from .distributed import localization_engine

        factory, engine = localization_engine(model, address)
    elif executor == "local":
        if (address, num_workers, num_gpus_per_worker) != (None, None, None):
            raise ValueError("address, num_workers and num_gpus_per_worker need executor='ray'")
        factory, engine = None, _as_engine(model)
    else:
        raise ValueError(f"executor must be 'local' or 'ray', got {executor!r}")
    if heatmap_storage == "files" and map_dir is None:
        from .runner import default_map_dir

        map_dir = default_map_dir(samples)
    heatmaps = fvl.HeatmapOptions(heatmaps="action", storage=heatmap_storage, map_dir=map_dir)
    cache = None
    if cache_dir is not False:
        cache = EmbeddingCache(cache_dir or EmbeddingCache.default_directory(), backbone_fingerprint(engine, context_stride))
    if record_run:
        run_key = run_key or "localize_" + "".join(c if c.isalnum() or c == "_" else "_" for c in label_field)
        if not run_key.isidentifier():
            raise ValueError(f"run_key must be a valid identifier, got {run_key!r}")
        fvr.check_output_fields(samples, run_key, written_fields(label_field, spatial), overwrite)
    else:
        run_key = None

    started = time.perf_counter()
    run = _Localizer(samples, engine, label_field, queries=query_list, pool_path=pool_path, method=method, fps=fps,
                     spatial=spatial, segment_options=segment_options, start_end_scorer=start_end_scorer,
                     overwrite=overwrite, skip_failures=skip_failures, cache=cache, context_stride=context_stride,
                     heatmaps=heatmaps, run_key=run_key, decoder=decoder)
    videos, done = run.plan()
    summary = run.summary
    summary.videos_total = len(videos) + done
    summary.videos_up_to_date = done
    if run_key:
        fvr.register_videogem_run(samples, run_key, run.run_config())
    logger.info("looking for actions in %d video(s) with %s (%s, %g fps) into '%s'", len(videos),
                engine.info.name, method, fps, label_field)
    finished = done
    if factory is None:
        scan = run.run(videos)
    else:
        from .distributed import localize_on_ray

        scan = localize_on_ray(run, videos, factory, address=address, num_workers=num_workers,
                               num_gpus_per_worker=num_gpus_per_worker)
    try:
        with fou.ProgressBar(total=summary.videos_total, progress=False if callable(progress) else progress) as bar:
            bar.update(done)
            for video in scan:
                finished += 1
                bar.update()
                if callable(progress):
                    progress(LocalizationProgress(finished, summary.videos_total, video.sample_id,
                                                  "; ".join(video.problems) or None))
    except BaseException as e:
        from .runner import stop_reason

        summary.stopped = stop_reason(e)
        raise
    finally:
        scan.close()  # a Ray scan stops the Ray instance it started
        summary.seconds = time.perf_counter() - started
        _finish(samples, run)
    logger.info("%s", summary)
    return summary


def _finish(samples, run: _Localizer) -> None:
    """Declares the keypoint attributes, shows the new fields in the App (:func:`configure_app`)
    and stores the run's summary."""
    from .app import configure_app, show_fields

    if run.written:
        root = fvf.root_dataset(samples)
        root.reload()  # fields that Ray workers created are not yet in this process's schema
        points, heatmap = (fvf.FRAMES_PREFIX + name for name in spatial_fields(run.label_field))
        segments = [run.label_field] if root.get_field(run.label_field) is not None else []
        try:
            if root.get_field(points) is not None:
                root.add_dynamic_frame_fields(fields=[fvf.strip_frames(points)])
                configure_app(root, points, heatmap if root.get_field(heatmap) is not None else None,
                              also_show=segments)
            elif segments:
                show_fields(root, segments)
        except Exception as e:  # App settings are a convenience; never fail a finished run on them
            logger.warning("could not store the App settings of '%s': %s", run.label_field, e)
        root.reload()
    if run.run_key:
        fvr.settle_created_fields(samples, run.run_key)
        results = run.summary.to_dict()
        results.pop("run_key", None)
        fvr.save_videogem_results(samples, run.run_key, results)
