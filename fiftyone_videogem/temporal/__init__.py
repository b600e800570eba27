"""Temporal and spatio-temporal action grounding: *when* an action happens, and *where*.

Engine level, no FiftyOne. Numpy only: per-frame query scores and their normalisations (``scores``),
segmentation of score curves into segments (``segmentation``), ZEAL's interval proposals
(``proposals``) and the GroundingYouTube / ActivityNet metrics (``metrics``). The algorithms, their
sources and where they depart from them are described in ``docs/temporal.md``.

Every name below is imported on first use, so importing this package costs nothing.
"""

from fiftyone_videogem.lazy import lazy_exports

_LAZY = {
    # scores
    "l2_normalize": "fiftyone_videogem.temporal.scores",
    "frame_query_scores": "fiftyone_videogem.temporal.scores",
    "minmax_normalize": "fiftyone_videogem.temporal.scores",
    "bounded_minmax": "fiftyone_videogem.temporal.scores",
    # segmentation
    "BACKGROUND": "fiftyone_videogem.temporal.segmentation",
    "Segment": "fiftyone_videogem.temporal.segmentation",
    "runs": "fiftyone_videogem.temporal.segmentation",
    "www_labels": "fiftyone_videogem.temporal.segmentation",
    "bridge_gaps": "fiftyone_videogem.temporal.segmentation",
    "www_segments": "fiftyone_videogem.temporal.segmentation",
    "moving_average": "fiftyone_videogem.temporal.segmentation",
    "contrast_score": "fiftyone_videogem.temporal.segmentation",
    "actionness": "fiftyone_videogem.temporal.segmentation",
    "contrast_segments": "fiftyone_videogem.temporal.segmentation",
    "segments_to_labels": "fiftyone_videogem.temporal.segmentation",
    # proposals
    "propose_intervals": "fiftyone_videogem.temporal.proposals",
    # metrics
    "GROUNDINGYOUTUBE_THRESHOLDS": "fiftyone_videogem.temporal.metrics",
    "PredSegment": "fiftyone_videogem.temporal.metrics",
    "GTSegment": "fiftyone_videogem.temporal.metrics",
    "VideoRecord": "fiftyone_videogem.temporal.metrics",
    "DetectionAP": "fiftyone_videogem.temporal.metrics",
    "IoUPointing": "fiftyone_videogem.temporal.metrics",
    "voc_ap": "fiftyone_videogem.temporal.metrics",
    "temporal_iou": "fiftyone_videogem.temporal.metrics",
    "temporal_ap": "fiftyone_videogem.temporal.metrics",
    "region_areas": "fiftyone_videogem.temporal.metrics",
    "point_in_boxes": "fiftyone_videogem.temporal.metrics",
    "iou_pointing": "fiftyone_videogem.temporal.metrics",
    "tube_iou": "fiftyone_videogem.temporal.metrics",
    "video_map": "fiftyone_videogem.temporal.metrics",
    "spatiotemporal_metrics": "fiftyone_videogem.temporal.metrics",
    # yes/no scorer (needs transformers: the lvlm extra)
    "YesNoScorer": "fiftyone_videogem.temporal.scorer",
    "SCORERS": "fiftyone_videogem.temporal.scorer",
    "list_scorers": "fiftyone_videogem.temporal.scorer",
    "load_scorer": "fiftyone_videogem.temporal.scorer",
    # ZEAL queries
    "QueryFileError": "fiftyone_videogem.temporal.queries",
    "load_queries": "fiftyone_videogem.temporal.queries",
    "save_queries": "fiftyone_videogem.temporal.queries",
    "generate_queries": "fiftyone_videogem.temporal.queries",
    "template_queries": "fiftyone_videogem.temporal.queries",
    "resolve_queries": "fiftyone_videogem.temporal.queries",
}

__all__ = sorted(_LAZY)


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
