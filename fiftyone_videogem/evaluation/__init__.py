"""Pointing-game evaluation of predicted action points against ground-truth boxes.

-   :mod:`.pointing`: the scoring rule itself, pure Python (:func:`score_point`, ...)
-   :mod:`.pointing_game`: the FiftyOne evaluation (:func:`evaluate_pointing_game`, its config,
    method and results classes, saved triage views)
-   :mod:`.comparison`: :func:`compare_pointing_games`
-   :mod:`.spatiotemporal`: :func:`evaluate_spatiotemporal` (GroundingYouTube's IoU+Pointing and video
    mAP, stored as an evaluation) and :func:`evaluate_temporal` (temporal mAP through FiftyOne)

Every public name is importable from ``fiftyone_videogem.evaluation``. FiftyOne stores the class
paths of a run's config and results (``fiftyone_videogem.evaluation.PointingGameEvaluationConfig``,
``...PointingGameEvaluation``, ``...PointingGameResults``) and imports them when the run is
loaded, so these names must stay exported here.
"""

from fiftyone_videogem.lazy import lazy_exports

# public name -> the module of this package that defines it; imported on first use, so that the
# pure scoring rule (``fiftyone_videogem.evaluation.pointing``) can be used without FiftyOne
_EXPORTS = {
    "ComparisonResults": ".comparison",
    "compare_pointing_games": ".comparison",
    "BOX_MODES": ".pointing",
    "FINAL_COMPONENT": ".pointing",
    "MISSING_POLICIES": ".pointing",
    "PROTOCOLS": ".pointing",
    "UNLABELED_CLASS": ".pointing",
    "FrameOutcome": ".pointing",
    "GroundTruthBox": ".pointing",
    "GroupAccuracy": ".pointing",
    "PointScore": ".pointing",
    "PredictedPoint": ".pointing",
    "box_problem": ".pointing",
    "score_frame": ".pointing",
    "score_point": ".pointing",
    "select_points": ".pointing",
    "HIT": ".pointing_game",
    "METHOD_NAME": ".pointing_game",
    "MISS": ".pointing_game",
    "RESERVED_EVAL_KEYS": ".pointing_game",
    "PointingGameEvaluation": ".pointing_game",
    "PointingGameEvaluationConfig": ".pointing_game",
    "PointingGameResults": ".pointing_game",
    "EvaluatedFrame": ".pointing_game",
    "eval_key_problem": ".pointing_game",
    "evaluate_pointing_game": ".pointing_game",
    "load_pointing_game_results": ".pointing_game",
    "save_triage_views": ".pointing_game",
    "triage_view_names": ".pointing_game",
    "SpatiotemporalEvaluation": ".spatiotemporal",
    "SpatiotemporalEvaluationConfig": ".spatiotemporal",
    "SpatiotemporalResults": ".spatiotemporal",
    "TemporalMAP": ".spatiotemporal",
    "THUMOS_THRESHOLDS": ".spatiotemporal",
    "evaluate_spatiotemporal": ".spatiotemporal",
    "evaluate_temporal": ".spatiotemporal",
    "misses_view": ".spatiotemporal",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
