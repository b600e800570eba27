"""Pictures of grounding results: the frame, the heatmap over it, and the points."""

from __future__ import annotations

import cv2
import numpy as np

from .engine.grounding import GroundingResult

COMPONENT_COLORS = {"verb": (0, 200, 255), "object": (255, 160, 0), "action": (255, 255, 255)}  # RGB


def render_result(frame: np.ndarray, result: GroundingResult, alpha: float = 0.45) -> np.ndarray:
    """The frame (HxWx3 uint8 RGB) with the heatmap blended over it and every point drawn.

    The heatmap lives in the model's (squashed) input frame; it is resized to the frame here.
    Component points are small coloured dots, the final point a large red ring.
    """
    frame = np.ascontiguousarray(frame[:, :, :3])
    h, w = frame.shape[:2]
    out = frame.copy()
    if result.heatmap is not None:
        heat = cv2.resize(result.heatmap.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
        colored = cv2.applyColorMap(np.clip(heat * 255, 0, 255).astype(np.uint8), cv2.COLORMAP_JET)
        colored = cv2.cvtColor(colored, cv2.COLOR_BGR2RGB)
        out = cv2.addWeighted(colored, alpha, frame, 1 - alpha, 0)
    radius = max(3, round(min(h, w) / 80))

    def pixel(point):
        return int(min(w - 1, point[0] * w)), int(min(h - 1, point[1] * h))

    for name, component in result.components.items():
        cv2.circle(out, pixel(component.point), radius, COMPONENT_COLORS.get(name, (255, 255, 255)), -1, cv2.LINE_AA)
    cv2.circle(out, pixel(result.point), radius * 2, (255, 0, 0), max(2, radius // 2), cv2.LINE_AA)
    cv2.putText(out, result.action[:60], (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def save_rgb(path: str, image: np.ndarray) -> None:
    """Write an RGB uint8 image (PNG/JPEG by extension)."""
    if not cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write the image {path!r}; check the directory exists and the extension")
