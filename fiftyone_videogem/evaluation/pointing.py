"""The pointing-game rule: scoring predicted points against ground-truth boxes.

Pure Python over plain numbers (no FiftyOne), so that scripts and other tools can score points the
way the FiftyOne evaluation does:

-   :func:`score_point` scores one point against the boxes of its frame;
-   :func:`box_problem` says why a ground-truth box cannot be scored (non-finite, empty or outside
    the frame), so that such boxes are counted and left out instead of crashing a run;
-   :func:`select_points` picks the final point and the component points of a frame;
-   :func:`score_frame` gives the outcome of one frame (:class:`FrameOutcome`).

A point is a *hit* when it lies inside a box, borders included. Boxes are FiftyOne's normalised
``[x, y, w, h]`` with the origin top-left.
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Iterable, Optional, Sequence

BOX_MODES = ("any", "union")
PROTOCOLS = ("paper", "normalized")
MISSING_POLICIES = ("miss", "skip")
FINAL_COMPONENT = "final"
UNLABELED_CLASS = "(unlabeled)"


def check_choice(name: str, value: str, choices: Sequence[str]) -> None:
    """Raises a ValueError naming the choices when ``value`` is not one of them."""
    if value not in choices:
        raise ValueError("%s must be one of %s, got %r" % (name, ", ".join(map(repr, choices)), value))


# --------------------------------------------------------------------------------------
# Boxes
# --------------------------------------------------------------------------------------


def box_problem(box) -> Optional[str]:
    """Why ``box`` cannot be scored, or None when it can.

    A scorable box is four finite numbers ``[x, y, w, h]`` with ``w > 0`` and ``h > 0`` that
    overlaps the frame ``[0, 1] x [0, 1]`` with a positive area (boxes that reach past an edge are
    scored as they are).
    """
    try:
        values = [float(v) for v in box]
    except (TypeError, ValueError):
        return "not four numbers"
    if len(values) != 4:
        return "not four numbers"
    if not all(math.isfinite(v) for v in values):
        return "non-finite coordinates"
    x, y, w, h = values
    if w <= 0 or h <= 0:
        return "zero or negative area"
    if min(x + w, 1.0) <= max(x, 0.0) or min(y + h, 1.0) <= max(y, 0.0):
        return "outside the frame"
    return None


def _corners(box: Sequence[float]) -> tuple[float, float, float, float]:
    x, y, w, h = (float(v) for v in box)
    return x, y, x + w, y + h


def _enclosing(corners: Sequence[tuple[float, float, float, float]]) -> tuple[float, float, float, float]:
    return (
        min(c[0] for c in corners),
        min(c[1] for c in corners),
        max(c[2] for c in corners),
        max(c[3] for c in corners),
    )


# --------------------------------------------------------------------------------------
# One point
# --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PointScore:
    """The outcome of scoring one point against the boxes of its frame.

    Args:
        hit: whether the point lies inside (or on the border of) a box
        distance: normalised distance to the nearest box edge (0 for hits)
        box_index: index of the box that was hit, or of the nearest box on a miss
            (always 0 in union mode)
        used_pixels: whether the integer input-frame protocol was applied
    """

    hit: bool
    distance: float
    box_index: int
    used_pixels: bool


def has_input_point(input_point, input_size) -> bool:
    """Whether ``input_point``/``input_size`` allow the integer ``"paper"`` protocol."""
    if input_point is None or input_size is None:
        return False
    try:
        values = [float(v) for v in list(input_point)[:2] + list(input_size)[:2]]
    except (TypeError, ValueError):
        return False
    return len(values) == 4 and all(math.isfinite(v) for v in values) and min(values[2:]) > 0


def score_point(
    point: Sequence[float],
    boxes: Sequence[Sequence[float]],
    box_mode: str = "any",
    protocol: str = "paper",
    input_point: Optional[Sequence[int]] = None,
    input_size: Optional[Sequence[int]] = None,
) -> PointScore:
    """Scores one point against ground-truth boxes with the pointing-game rule.

    Args:
        point: the normalised ``(x, y)`` point in ``[0, 1]`` of the original frame
        boxes: one or more normalised ``[x, y, w, h]`` boxes (FiftyOne format)
        box_mode ("any"): ``"any"`` or ``"union"`` (smallest box enclosing all boxes)
        protocol ("paper"): ``"paper"`` compares ``input_point`` with boxes rescaled into
            the input frame with Python ``round``; ``"normalized"`` compares ``point`` with
            the normalised boxes. ``"paper"`` without ``input_point``/``input_size`` falls
            back to ``"normalized"``
        input_point (None): the integer ``(x, y)`` pixel in the model input frame
        input_size (None): the ``(width, height)`` of the model input frame

    Returns:
        a :class:`PointScore`

    Raises:
        ValueError: an unknown option, no box, or a box that :func:`box_problem` rejects
    """
    check_choice("box_mode", box_mode, BOX_MODES)
    check_choice("protocol", protocol, PROTOCOLS)
    if not boxes:
        raise ValueError("score_point() needs at least one ground-truth box")
    for box in boxes:
        problem = box_problem(box)
        if problem is not None:
            raise ValueError("ground-truth box %r cannot be scored: %s" % (list(box), problem))

    corners = [_corners(b) for b in boxes]
    if box_mode == "union":
        corners = [_enclosing(corners)]

    use_pixels = protocol == "paper" and has_input_point(input_point, input_size)
    best_distance, best_index = math.inf, 0
    for index, (x1, y1, x2, y2) in enumerate(corners):
        if use_pixels:
            width, height = int(input_size[0]), int(input_size[1])
            px, py = int(input_point[0]), int(input_point[1])
            bx1, bx2 = round(x1 * width), round(x2 * width)
            by1, by2 = round(y1 * height), round(y2 * height)
            dx = max(bx1 - px, 0, px - bx2) / width
            dy = max(by1 - py, 0, py - by2) / height
        else:
            px, py = float(point[0]), float(point[1])
            dx = max(x1 - px, 0.0, px - x2)
            dy = max(y1 - py, 0.0, py - y2)

        distance = math.hypot(dx, dy)
        if distance < best_distance:
            best_distance, best_index = distance, index
            if distance == 0:
                break

    return PointScore(
        hit=best_distance == 0,
        distance=float(best_distance),
        box_index=best_index,
        used_pixels=use_pixels,
    )


# --------------------------------------------------------------------------------------
# One frame
# --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class GroundTruthBox:
    """One ground-truth box of a frame.

    Args:
        box: the normalised ``[x, y, w, h]``
        label (None): its class
        id (None): the ID of the label it came from
    """

    box: Sequence[float]
    label: Optional[str] = None
    id: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class PredictedPoint:
    """One predicted point.

    Args:
        xy: the normalised ``(x, y)``
        label (None): the keypoint's label (VideoGEM: the prompt's class)
        component (None): ``"final"``, a decomposition component (``"action"``, ``"verb"``,
            ``"object"``) or None for points of other models
        input_point (None): the integer pixel in the model input frame
        input_size (None): the ``(width, height)`` of the model input frame
        confidence (None): the point's confidence (VideoGEM: its heat)
        id (None): the ID of the keypoint it came from
    """

    xy: tuple[float, float]
    label: Optional[str] = None
    component: Optional[str] = None
    input_point: Optional[Sequence[int]] = None
    input_size: Optional[Sequence[int]] = None
    confidence: Optional[float] = None
    id: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class GroupAccuracy:
    """Pointing accuracy of a group of frames (one class, one component, ...)."""

    accuracy: float
    num_hits: int
    count: int


@dataclasses.dataclass(frozen=True)
class FrameOutcome:
    """The outcome of one evaluated frame.

    Args:
        frame_class: the label of the frame's first valid box
        hit: whether the final point hit
        distance: normalised distance of the final point (None without a point)
        gt_id: the ID of the box hit (or nearest; the first box in union mode)
        final: the scored :class:`PredictedPoint`, or None
        component_hits: component key -> whether its point hit
        used_fallback: the ``"paper"`` protocol fell back to normalised coordinates
    """

    frame_class: str
    hit: bool
    distance: Optional[float]
    gt_id: Optional[str]
    final: Optional[PredictedPoint]
    component_hits: dict
    used_fallback: bool


def component_key(component: str) -> str:
    """The field-safe key of a component name (``"action"`` -> ``"action"``)."""
    return re.sub(r"\W+", "_", str(component)).strip("_") or "component"


def select_points(
    points: Iterable[PredictedPoint], frame_class: Optional[str], use_components: bool = True
) -> tuple[Optional[PredictedPoint], dict[str, PredictedPoint]]:
    """Picks the final point and the first point of each decomposition component.

    With ``component`` attributes, the final point is the ``"final"`` point whose label equals
    the frame's class (else the first ``"final"`` point). Points without ``component`` (other
    models) give the first point. A frame with only component points uses ``"action"``.
    """
    finals: list[PredictedPoint] = []
    components: dict[str, PredictedPoint] = {}
    plain: list[PredictedPoint] = []
    for point in points:
        if point.component is None:
            plain.append(point)
        elif point.component == FINAL_COMPONENT:
            finals.append(point)
        elif use_components:
            components.setdefault(component_key(point.component), point)

    final = None
    if finals:
        final = next((p for p in finals if p.label == frame_class), finals[0])
    elif plain:
        final = plain[0]
    elif components:
        final = components.get("action") or next(iter(components.values()))
    return final, components


def score_frame(
    boxes: Sequence[GroundTruthBox],
    points: Iterable[PredictedPoint],
    box_mode: str = "any",
    protocol: str = "paper",
    use_components: bool = True,
) -> Optional[FrameOutcome]:
    """Scores the predicted points of one frame against its valid boxes.

    Args:
        boxes: the frame's ground-truth boxes that :func:`box_problem` accepts
        points: the frame's predicted points (possibly none)
        box_mode ("any"): see :func:`score_point`
        protocol ("paper"): see :func:`score_point`
        use_components (True): also score the decomposition components

    Returns:
        a :class:`FrameOutcome` (a miss with ``final=None`` when there is no point), or None
        when there is no box
    """
    if not boxes:
        return None
    frame_class = boxes[0].label if boxes[0].label is not None else UNLABELED_CLASS
    final, components = select_points(points, frame_class, use_components)
    rects = [b.box for b in boxes]

    def score(point: PredictedPoint) -> PointScore:
        return score_point(
            point.xy,
            rects,
            box_mode=box_mode,
            protocol=protocol,
            input_point=point.input_point,
            input_size=point.input_size,
        )

    component_hits = {name: score(point).hit for name, point in components.items()}
    if final is None:
        return FrameOutcome(frame_class, False, None, boxes[0].id, None, component_hits, False)

    result = score(final)
    gt_id = boxes[0].id if box_mode == "union" else boxes[result.box_index].id
    fallback = protocol == "paper" and not result.used_pixels
    return FrameOutcome(frame_class, result.hit, result.distance, gt_id, final, component_hits, fallback)
