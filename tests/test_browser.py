"""Drives the real FiftyOne App in headless Chromium.

On a dataset of generated images: run the pointing-game operator from its form, open the
VideoGEM triage panel, check that its charts render and fit the panel, click the column of a
class at 0% (its accuracy bar has no height) and check that the App's view becomes that class's
misses, show every miss, and open a miss from the table in the sample view.

On a dataset of generated videos with grounding labels (points, heatmaps) set up for the App by
:func:`fiftyone_videogem.app.configure_app`: open a worst miss whose frame is not the first one
from the table and check, in the pixels of the sample view, that the App shows that very frame
(each frame draws its number as a bar) with the heatmap in the colours of its colour scale, not
in one colour; and that a ``to_frames()`` view shows the run's labels.

On a dataset of generated videos with found segments, their points and heatmaps, ground-truth
segments with their boxes and a stored spatio-temporal run: the panel's AP-per-phrase and
IoU+Pointing-per-video charts render and fit the panel, and a click on a phrase opens its missed
ground-truth segments, then its false segments, as clips.

On a dataset of generated videos: "Find actions in time" from its form (two typed phrases, the
tiny test backbone with random weights, run immediately) writes segments with their points and
heatmaps, and the App shows as many clips as segments were written, without an error.

A grounding run from the operator's form whose checkpoint does not exist shows the product's
error message as a notification, and writes nothing.

Needs Debian's ``chromium`` (``/usr/bin/chromium``) and the ``playwright`` Python package
(without ``playwright install``). Screenshots go to ``$VIDEOGEM_ARTIFACTS/browser`` (default
``artifacts/browser``); with ``VIDEOGEM_UPDATE_DOC_IMAGES=1`` the ones used by
``docs/triage.md`` and ``docs/temporal.md`` are also copied to ``docs/images/``.
"""

import colorsys
import contextlib
import os
import time
import uuid
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect, sync_playwright

import fiftyone as fo

from fiftyone_videogem.app import HEATMAP_COLORSCALE, configure_app
from fiftyone_videogem.evaluation import evaluate_pointing_game, evaluate_spatiotemporal
from tests.browser_app import (
    CHROMIUM,
    CHROMIUM_ARGS,
    AppServer,
    dismiss_popovers,
    open_operator_browser,
    save_doc_image,
)

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
VIEWPORT = {"width": 1400, "height": 900}
DOC_IMAGES = {
    "operator_form.png": "triage_operator_form.png",
    "panel.png": "triage_panel.png",
    "class_click.png": "triage_class_click.png",
    "worst_misses.png": "triage_worst_misses.png",
    "video_miss.png": "triage_video_miss.png",
    "frames_view.png": "triage_frames_view.png",
    "spatiotemporal.png": "triage_spatiotemporal.png",
    "find_actions_form.png": "find_actions_form.png",
    "find_actions_clips.png": "find_actions_clips.png",
}

BOX = [0.3, 0.3, 0.4, 0.45]
# class -> (scene colour, number of misses among its 4 images); "open door" is at 0%
CLASSES = {
    "crack eggs": ((222, 184, 135), 1),
    "pour milk": ((135, 170, 222), 3),
    "cut onion": ((160, 210, 150), 2),
    "open door": ((200, 160, 200), 4),
}
IMAGES_PER_CLASS = 4
WORST_CLASS = "open door"

# generated videos: (class, scene colour, {annotated frame: hit})
VIDEOS = [
    ("pour milk", (135, 170, 222), {3: True, 6: False, 9: False}),
    ("cut onion", (160, 210, 150), {3: True, 6: True, 9: False}),
]
VIDEO_SIZE = (320, 240)
VIDEO_FRAMES = 12
VIDEO_BOX = [0.3, 0.3, 0.35, 0.4]
MISS_POINT = (0.82, 0.22)
HIT_POINT = (0.47, 0.5)
HEATMAP_GRID = (16, 12)  # (width, height) of the heatmaps, as at a backbone's patch grid
FRAME_BAR_ROWS = (0.84, 0.92)  # rows of each frame where a bar as long as fn/12 of the width is white

SHORT = 15_000  # ms
LONG = 60_000  # ms


def artifacts_dir() -> Path:
    root = Path(os.environ.get("VIDEOGEM_ARTIFACTS", REPO / "artifacts"))
    path = root / "browser"
    path.mkdir(parents=True, exist_ok=True)
    return path


# --------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------


def scene(color, seed: int, size=(192, 144), box=BOX) -> np.ndarray:
    """A small synthetic frame: a shaded background and an object where the box is."""
    width, height = size
    rng = np.random.default_rng(seed)
    shade = np.linspace(0.55, 1.0, height)[:, None, None]
    img = (np.array(color)[None, None, :] * shade).repeat(width, axis=1)
    img = img + rng.normal(0, 6, img.shape)
    x, y, w, h = box
    x1, y1 = int(x * width), int(y * height)
    x2, y2 = int((x + w) * width), int((y + h) * height)
    img[y1:y2, x1:x2] = np.array(color)[::-1] * 0.6 + 40
    return np.clip(img, 0, 255).astype(np.uint8)


def video_frame(color, frame_number: int) -> np.ndarray:
    """A frame of a generated video: the scene, with a white bar as long as
    ``frame_number / VIDEO_FRAMES`` of the width across ``FRAME_BAR_ROWS`` on black."""
    width, height = VIDEO_SIZE
    img = scene(color, seed=0, size=VIDEO_SIZE, box=VIDEO_BOX)
    top, bottom = (int(f * height) for f in FRAME_BAR_ROWS)
    img[top:bottom] = 0
    img[top:bottom, : int(width * frame_number / VIDEO_FRAMES)] = 255
    return img


def write_video(path: Path, color) -> str:
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=10, options={"preset": "veryfast", "crf": "12"})
        stream.width, stream.height = VIDEO_SIZE
        stream.pix_fmt = "yuv420p"
        for fn in range(1, VIDEO_FRAMES + 1):
            frame = av.VideoFrame.from_ndarray(video_frame(color, fn), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return str(path)


def keypoints(x: float, label: str, verb_x: float, y: float = 0.52) -> fo.Keypoints:
    def kp(component, name, px, py):
        return fo.Keypoint(label=name, points=[(px, py)], component=component, heat=0.7)

    verb, obj = label.split()[0], label.split()[-1]
    return fo.Keypoints(
        keypoints=[
            kp("final", label, x, y),
            kp("action", "action", x, y),
            kp("verb", verb, verb_x, y),
            kp("object", obj, x, y),
        ]
    )


def heatmap_cell(point) -> tuple[int, int]:
    """The (column, row) of the heatmap cell that holds a normalised point."""
    gw, gh = HEATMAP_GRID
    return min(gw - 1, int(point[0] * gw)), min(gh - 1, int(point[1] * gh))


HEAT_BY_RING = {0: 1.0, 1: 1.0, 2: 0.5, 3: 0.3, 4: 0.15}  # heat by distance in cells; 0.05 beyond


def heatmap(point) -> fo.Heatmap:
    """A heatmap at patch-grid resolution: 1 in a 3x3 block of cells around the point, then
    0.5, 0.3 and 0.15 in the rings of cells around that block, 0.05 elsewhere and 0 in one
    corner (its minimum, as in a min-max normalised map)."""
    gw, gh = HEATMAP_GRID
    cx, cy = heatmap_cell(point)
    cols, rows = np.meshgrid(np.arange(gw), np.arange(gh))
    ring = np.maximum(np.abs(cols - cx), np.abs(rows - cy))
    values = np.vectorize(lambda r: HEAT_BY_RING.get(r, 0.05))(ring).astype(np.float32)
    values[gh - 1, 0 if cx > gw // 2 else gw - 1] = 0.0
    return fo.Heatmap(map=values, range=[0, 1])


@contextlib.contextmanager
def persistent_dataset(prefix: str):
    """A new persistent dataset (the App server runs in another process), deleted afterwards."""
    ds = fo.Dataset("%s-%s" % (prefix, uuid.uuid4().hex[:12]), persistent=True)
    try:
        yield ds
    finally:
        if fo.dataset_exists(ds.name):
            fo.delete_dataset(ds.name)


@pytest.fixture(scope="module")
def image_dataset(tmp_path_factory):
    """16 generated images with ground-truth boxes and VideoGEM-style points."""
    folder = tmp_path_factory.mktemp("images")
    with persistent_dataset("videogem-browser") as ds:
        samples = []
        for c, (label, (color, num_misses)) in enumerate(CLASSES.items()):
            for j in range(IMAGES_PER_CLASS):
                path = folder / ("%s-%d.png" % (label.replace(" ", "_"), j))
                Image.fromarray(scene(color, seed=10 * c + j)).save(path)
                hit = j >= num_misses
                x = 0.5 if hit else 0.08 + 0.06 * j
                samples.append(
                    fo.Sample(
                        filepath=str(path),
                        gt=fo.Detections(detections=[fo.Detection(label=label, bounding_box=BOX)]),
                        vgem_point=keypoints(x, label, verb_x=0.12 if j == 1 else 0.5),
                    )
                )
        ds.add_samples(samples, progress=False)
        del samples  # no samples in memory, which reloads would have to follow
        ds.compute_metadata(progress=False)
        yield ds


@pytest.fixture(scope="module")
def video_dataset(tmp_path_factory):
    """Generated videos with ground truth, the points and heatmaps of a grounding run
    (``frames.videogem``, ``frames.videogem_heatmap``), the heatmap of an older run that was
    shown before (``frames.old_heatmap``), a pointing-game run and the App settings of
    :func:`configure_app`."""
    folder = tmp_path_factory.mktemp("videos")
    with persistent_dataset("videogem-browser-video") as ds:
        for label, color, outcomes in VIDEOS:
            sample = fo.Sample(filepath=write_video(folder / ("%s.mp4" % label.replace(" ", "_")), color))
            for fn, hit in outcomes.items():
                point = HIT_POINT if hit else MISS_POINT
                sample.frames[fn] = fo.Frame(
                    gt=fo.Detections(detections=[fo.Detection(label=label, bounding_box=VIDEO_BOX)]),
                    videogem=keypoints(point[0], label, verb_x=point[0] - 0.1, y=point[1]),
                    videogem_heatmap=heatmap(point),
                    old_heatmap=heatmap((0.1, 0.9)),
                )
            ds.add_sample(sample)
            del sample
        ds.compute_metadata(progress=False)
        ds.add_dynamic_frame_fields()
        # an earlier run's heatmap was shown
        ds.app_config.active_fields = fo.ActiveFields(paths=["frames.gt", "frames.old_heatmap"])
        ds.save()
        configure_app(ds, "frames.videogem", "frames.videogem_heatmap", gt_field="frames.gt")
        evaluate_pointing_game(ds, "frames.videogem", "frames.gt", eval_key="pointing", progress=False)
        ds.save_view("frames", ds.to_frames(sample_frames=True, sparse=True, output_dir=str(folder / "frames")))
        yield ds


@pytest.fixture(scope="module")
def app(image_dataset):
    """The App server (one for the module; the pages open either dataset)."""
    with AppServer(image_dataset.name, log_path=artifacts_dir() / "server.log") as server:
        yield server


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


# --------------------------------------------------------------------------------------
# Page helpers
# --------------------------------------------------------------------------------------


def open_page(browser, url: str, count: int):
    page = browser.new_page(viewport=VIEWPORT)
    page.set_default_timeout(SHORT)
    page.goto(url, wait_until="domcontentloaded")
    wait_for_count(page, count)
    dismiss_popovers(page, wait=5_000)
    return page


def wait_for_count(page, count: int, timeout: int = LONG, noun: str = "sample") -> None:
    text = "1 %s" % noun if count == 1 else "%d %ss" % (count, noun)
    page.get_by_text(text, exact=True).first.wait_for(timeout=timeout)


def open_operator_form(page, query: str, label: str, ready_text: str = "Predicted points") -> None:
    """Opens the operator browser (backtick key, else the toolbar button), filters it and
    opens the operator's form (the item of that label)."""
    dialog = open_operator_browser(page, query, [label], timeout=SHORT)
    dialog.get_by_text(label, exact=True).first.click()  # the exact operator: others may match the query too
    page.get_by_text(ready_text, exact=True).wait_for(timeout=SHORT)


def close_progress(page) -> None:
    """Closes the dialog of an immediate run's progress (its "Done" button)."""
    done = page.get_by_role("button", name="Done", exact=True)
    done.wait_for(timeout=LONG)
    for attempt in range(3):  # a click while the dialog re-renders can be lost
        try:
            done.click(timeout=5_000)
            done.wait_for(state="hidden", timeout=5_000)
            return
        except Exception:
            if attempt == 2:
                raise


def open_triage_panel(page, ready_text: str = "Worst misses (largest distance to the ground truth)") -> None:
    dismiss_popovers(page)
    page.locator('[data-cy="new-panel-btn"]').first.click()
    page.get_by_text("VideoGEM triage", exact=True).first.click()
    page.get_by_text(ready_text).wait_for(timeout=LONG)


def wait_for_evaluation(ds, eval_key: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            ds.reload()
            if eval_key in ds.list_evaluations():
                return
        except Exception:  # the App server renames the run's fields while this reads them
            pass
        time.sleep(0.5)
    raise AssertionError("The operator did not store evaluation '%s'" % eval_key)


def column_boxes(page, chart_index: int, bar_index: int) -> list:
    """The boxes of the parts (one per stacked trace) of a category's column in a Plotly bar
    chart."""
    traces = page.locator(".js-plotly-plot").nth(chart_index).locator("g.trace.bars")
    return [traces.nth(t).locator(".point path").nth(bar_index).bounding_box() for t in range(traces.count())]


def click_bar(page, chart_index: int, bar_index: int) -> None:
    """Clicks the middle of the tallest part of a column of a Plotly chart (Plotly listens on
    its drag layer, so a mouse click at the bar's position is what a user does)."""
    boxes = [b for b in column_boxes(page, chart_index, bar_index) if b is not None]
    box = max(boxes, key=lambda b: b["height"])
    assert box["height"] > 0, "the column is not displayed"
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


def click_until_count(page, chart_index: int, bar_index: int, count: int, noun: str, out: Path, name: str) -> None:
    """Clicks a column and waits for the grid to show ``count`` entries (a click while the panel
    re-renders can be lost, so it is retried once)."""
    for attempt in range(2):
        click_bar(page, chart_index=chart_index, bar_index=bar_index)
        try:
            wait_for_count(page, count, timeout=SHORT + 10_000 * attempt, noun=noun)
            return
        except Exception:
            if attempt:
                page.screenshot(path=str(out / ("%s_failed.png" % name)))
                raise


def wait_for_charts(page, num_bars: int):
    """Waits for the panel's two charts, the second with ``num_bars`` columns, and returns them.
    The panel renders again when the App learns of a run's fields, so it waits until it settles."""
    charts = page.locator(".js-plotly-plot")
    last_bar = charts.nth(1).locator("g.trace.bars").nth(1).locator(".point path").nth(num_bars - 1)
    for _ in range(3):
        last_bar.wait_for(timeout=LONG)
        page.wait_for_timeout(1_000)
        if charts.count() == 2 and last_bar.count() == 1:
            break
    expect(charts).to_have_count(2, timeout=SHORT)
    last_bar.wait_for(timeout=LONG)
    return charts


def panel_overflow(page) -> list:
    """The elements of the triage panel that reach past its right edge (clipped content)."""
    return page.evaluate(
        """() => {
            const panel = document.querySelector('[data-cy="panel-content-videogem_triage"]');
            const right = panel.getBoundingClientRect().right;
            return Array.from(panel.querySelectorAll('*'))
                .filter(e => e.getBoundingClientRect().width > 0 && e.getBoundingClientRect().right > right + 1)
                .map(e => e.tagName + '.' + e.className.toString().slice(0, 40));
        }"""
    )


def modal_image_box(page, size) -> dict:
    """Where the media of the sample view is drawn: the looker canvas, less the letterbox."""
    canvas = page.locator('[data-cy="modal-looker-container"] canvas').first
    canvas.wait_for(state="visible", timeout=LONG)
    box = canvas.bounding_box()
    scale = min(box["width"] / size[0], box["height"] / size[1])
    width, height = size[0] * scale, size[1] * scale
    return {
        "x": box["x"] + (box["width"] - width) / 2,
        "y": box["y"] + (box["height"] - height) / 2,
        "width": width,
        "height": height,
    }


def pixel(image: np.ndarray, box: dict, x: float, y: float) -> np.ndarray:
    """The RGB value of a screenshot at normalised media coordinates (a 5x5 median)."""
    cx = int(round(box["x"] + x * box["width"]))
    cy = int(round(box["y"] + y * box["height"]))
    patch = image[cy - 2 : cy + 3, cx - 2 : cx + 3].reshape(-1, 3)
    return np.median(patch, axis=0)


def hue(rgb) -> float:
    """Hue in degrees."""
    h, _, _ = colorsys.rgb_to_hsv(*(np.asarray(rgb, dtype=float) / 255.0))
    return 360.0 * h


def shown_frame_number(image: np.ndarray, box: dict) -> int:
    """The frame number a generated video frame shows: the length of its white bar."""
    y = (FRAME_BAR_ROWS[0] + FRAME_BAR_ROWS[1]) / 2
    row = [pixel(image, box, (i + 0.5) / 200, y).mean() for i in range(200)]
    bright = np.asarray(row) > (max(row) + min(row)) / 2
    return int(round(bright.mean() * VIDEO_FRAMES))


def screenshot(page, path: Path) -> np.ndarray:
    page.screenshot(path=str(path))
    return np.asarray(Image.open(path).convert("RGB"))


@contextlib.contextmanager
def screenshot_on_failure(page, path: Path):
    """Saves a screenshot of ``page`` to ``path`` when the block fails, and closes the page."""
    try:
        yield page
    except Exception:
        page.screenshot(path=str(path))
        raise
    finally:
        page.close()


def update_doc_images(out: Path, names) -> None:
    if os.environ.get("VIDEOGEM_UPDATE_DOC_IMAGES") != "1":
        return
    for source in names:
        save_doc_image(out / source, REPO / "docs" / "images" / DOC_IMAGES[source])


# --------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------


def test_evaluate_and_triage_in_the_app(app, browser, image_dataset):
    ds = image_dataset
    out = artifacts_dir()
    num_samples = len(ds)
    num_misses = sum(m for _, m in CLASSES.values())

    page = open_page(browser, app.dataset_url(), num_samples)
    with screenshot_on_failure(page, out / "failure.png"):
        page.screenshot(path=str(out / "grid.png"))

        # 1. the operator, from its form
        open_operator_form(page, "pointing", "Evaluate VideoGEM (pointing game)")
        for text in ("Ground truth", "Evaluation key", "Box mode", "Protocol"):
            assert page.get_by_text(text, exact=True).count() >= 1, text
        execute = page.get_by_role("button", name="Execute", exact=True)
        expect(execute).to_be_enabled(timeout=SHORT)
        expect(page.get_by_text("Required property")).to_have_count(0, timeout=SHORT)
        page.screenshot(path=str(out / "operator_form.png"))
        execute.click()
        wait_for_evaluation(ds, "pointing")
        close_progress(page)
        ds.reload()
        results = ds.load_evaluation_results("pointing")
        assert results.num_hits == num_samples - num_misses
        assert results.per_class[WORST_CLASS].accuracy == 0.0
        assert "pointing-misses" in ds.list_saved_views()

        # 2. the panel, from the "+" menu: two charts that fit the panel
        open_triage_panel(page)
        charts = wait_for_charts(page, len(CLASSES))
        assert charts.nth(0).locator("svg.main-svg").count() >= 1
        ticks = charts.nth(1).locator(".xtick text").all_text_contents()
        assert ticks[0] == WORST_CLASS, ticks
        page.mouse.move(600, 850)  # off the thumbnails, so none is highlighted
        page.wait_for_timeout(500)  # let the bars finish their transition
        assert panel_overflow(page) == []
        page.screenshot(path=str(out / "panel.png"))

        # 3. the class at 0%: its accuracy bar has no height, its column can be clicked
        accuracy_part, missed_part = column_boxes(page, chart_index=1, bar_index=0)
        assert accuracy_part is None or accuracy_part["height"] < 1
        assert missed_part["height"] > 100
        click_until_count(page, 1, 0, CLASSES[WORST_CLASS][1], "sample", out, "class_click")
        page.locator('[data-cy="input-view-stage"][value="Match"]').first.wait_for()
        page.get_by_text("Showing misses of '%s'" % WORST_CLASS, exact=False).wait_for()
        page.wait_for_timeout(2_000)  # thumbnails of the new view
        page.screenshot(path=str(out / "class_click.png"))

        # 4. the button shows every miss, worst first
        page.get_by_role("button", name="Show all misses").click()
        wait_for_count(page, num_misses)
        page.get_by_text("Worst misses (largest distance to the ground truth)").scroll_into_view_if_needed()
        page.wait_for_timeout(2_000)
        assert panel_overflow(page) == []
        page.screenshot(path=str(out / "worst_misses.png"))

        # 5. a row of the worst-misses table opens that miss in the sample view
        worst = results.worst_misses(limit=1)[0]
        page.get_by_role("button", name="Show", exact=True).first.click()
        page.locator('[data-cy="modal"]').first.wait_for(timeout=LONG)
        page.wait_for_url("**id=%s**" % worst.sample_id, timeout=SHORT)
        page.get_by_text("Opened miss #1 (%s" % worst.frame_class, exact=False).first.wait_for(state="attached")
        page.wait_for_timeout(2_000)
        page.screenshot(path=str(out / "image_miss.png"))

    update_doc_images(out, ["operator_form.png", "panel.png", "class_click.png", "worst_misses.png"])


def test_a_video_miss_opens_on_its_frame_with_a_coloured_heatmap(app, browser, video_dataset):
    ds = video_dataset
    out = artifacts_dir()

    # what configure_app stored: the colour scale on the run's heatmap, points coloured by
    # component, and only the latest run's heatmap active, in video and frames-view paths
    scheme = ds.app_config.color_scheme
    assert scheme.color_by == "value"
    scales = {s["path"]: s["name"] for s in scheme.colorscales}
    assert scales == {"frames.videogem_heatmap": HEATMAP_COLORSCALE, "videogem_heatmap": HEATMAP_COLORSCALE}
    points = {f["path"]: f for f in scheme.fields}
    assert points["frames.videogem"]["colorByAttribute"] == "component"
    active = ds.app_config.active_fields.paths
    assert {"frames.videogem", "frames.videogem_heatmap", "frames.gt", "videogem", "gt"} <= set(active)
    assert "frames.old_heatmap" not in active

    results = ds.load_evaluation_results("pointing")
    worst = results.worst_misses(limit=1)[0]
    assert worst.frame_number != 1

    url = "%s/datasets/%s" % (app.url, ds.name)
    page = open_page(browser, url, len(ds))
    with screenshot_on_failure(page, out / "failure_video.png"):
        open_triage_panel(page)
        page.get_by_text("%s @ %d" % (Path(worst.filepath).name, worst.frame_number)).first.wait_for()

        # Show: the miss opens in the sample view, as a clip of that one frame
        page.get_by_role("button", name="Show", exact=True).first.click()
        page.locator('[data-cy="modal"]').first.wait_for(timeout=LONG)
        page.locator('[data-cy="input-view-stage"][value="ToClips"]').first.wait_for(state="attached")
        page.mouse.move(5, 5)  # the video controls hide without the pointer
        box = modal_image_box(page, VIDEO_SIZE)

        # the pixels: that frame (not the video's first), and the heatmap in the colours of its
        # colour scale over the frame, as the App blends them: a heatmap drawn in one field
        # colour, or not at all, fails
        color = next(c for label, c, _ in VIDEOS if label == worst.frame_class)
        frame = video_frame(color, worst.frame_number).astype(float)
        cmap = np.asarray(fo.app_config.get_colormap(HEATMAP_COLORSCALE), dtype=float)
        opacity = ds.app_config.color_scheme.opacity
        cx, cy = heatmap_cell(MISS_POINT)
        probes = {  # name: (normalised position, heatmap value there)
            "peak": ((cx + 1.5) / HEATMAP_GRID[0], (cy + 0.5) / HEATMAP_GRID[1], HEAT_BY_RING[1]),
            "ring": ((cx + 2.5) / HEATMAP_GRID[0], (cy + 0.5) / HEATMAP_GRID[1], HEAT_BY_RING[2]),
            "cold": (0.15, 0.15, 0.05),
        }

        def expected(x, y, value):
            px, py = int(x * VIDEO_SIZE[0]), int(y * VIDEO_SIZE[1])
            under = np.median(frame[py - 1 : py + 2, px - 1 : px + 2].reshape(-1, 3), axis=0)
            return opacity * cmap[int(round(value * (len(cmap) - 1)))] + (1 - opacity) * under

        deadline = time.monotonic() + 60
        while True:
            image = screenshot(page, out / "video_miss.png")
            frame_number = shown_frame_number(image, box)
            seen = {k: pixel(image, box, x, y) for k, (x, y, _) in probes.items()}
            wanted = {k: expected(*p) for k, p in probes.items()}
            errors = {k: float(np.abs(seen[k] - wanted[k]).max()) for k in probes}
            if frame_number == worst.frame_number and max(errors.values()) < 40 or time.monotonic() > deadline:
                break
            page.wait_for_timeout(2_000)
        assert frame_number == worst.frame_number
        assert max(errors.values()) < 40, (seen, wanted)
        try:  # for the picture: the player has settled
            page.get_by_text("Buffering").first.wait_for(state="hidden", timeout=SHORT)
            page.screenshot(path=str(out / "video_miss.png"))
        except Exception:
            pass
        assert abs(hue(seen["peak"]) - hue(seen["ring"])) > 40, seen  # not one colour

        # closed again (a click beside it), so that the App's session does not reopen the clip
        # on the next page
        page.mouse.click(5, 5)
        page.locator('[data-cy="modal"]').first.wait_for(state="hidden", timeout=SHORT)

    # a frames view of the run shows its ground truth, points and heatmap (active by default)
    num_frames = sum(len(v[2]) for v in VIDEOS)
    page = browser.new_page(viewport=VIEWPORT)
    with screenshot_on_failure(page, out / "failure_video.png"):
        page.goto(url + "?view=frames", wait_until="domcontentloaded")
        page.get_by_text("%d frames" % num_frames, exact=True).first.wait_for(timeout=LONG)
        dismiss_popovers(page, wait=3_000)
        for field in ("gt", "videogem", "videogem_heatmap"):
            expect(page.locator('[data-cy="checkbox-%s"] input' % field).first).to_be_checked()
        expect(page.locator('[data-cy="checkbox-old_heatmap"] input').first).not_to_be_checked()
        page.wait_for_timeout(3_000)  # thumbnails
        dismiss_popovers(page, wait=3_000)
        page.mouse.move(600, 850)
        page.wait_for_timeout(1_000)
        page.screenshot(path=str(out / "frames_view.png"))

    update_doc_images(out, ["video_miss.png", "frames_view.png"])


# --------------------------------------------------------------------------------------
# Spatio-temporal runs
# --------------------------------------------------------------------------------------

# generated videos of VIDEO_FRAMES frames: (name, scene colour, found segments (phrase, [first,
# last], confidence, on the box?), ground-truth segments (phrase, [first, last]))
ST_VIDEOS = [
    ("kitchen_1", (135, 170, 222),
     [("pour milk", (1, 6), 0.9, True), ("cut onion", (7, 12), 0.8, False)],
     [("pour milk", (1, 6)), ("cut onion", (7, 12))]),
    ("kitchen_2", (160, 210, 150),
     [("crack eggs", (1, 2), 0.7, True), ("cut onion", (5, 8), 0.6, True)],
     [("crack eggs", (3, 10))]),
]
# by hand, at tube IoU 0.3: "pour milk" is found where it is (AP 1); "cut onion" is found in the
# wrong place in kitchen_1 and where there is none in kitchen_2 (AP 0: 1 missed, 2 false segments);
# "crack eggs" is found at the wrong time (AP 0)
ST_PHRASES = ["crack eggs", "cut onion", "pour milk"]  # the AP chart's order: lowest AP, then name
ST_CLICKED = "cut onion"
ST_MISSED, ST_FALSE = 1, 2
ST_GRID = (40, 30)  # heatmap grid: 8 x 8 pixel cells


def region_heatmap(box) -> fo.Heatmap:
    """1 on the cells inside a normalised box, 0 elsewhere."""
    gw, gh = ST_GRID
    x, y, w, h = box
    values = np.zeros((gh, gw), dtype=np.float32)
    values[int(round(y * gh)) : int(round((y + h) * gh)), int(round(x * gw)) : int(round((x + w) * gw))] = 1.0
    return fo.Heatmap(map=values, range=[0, 1])


@pytest.fixture(scope="module")
def spatiotemporal_dataset(tmp_path_factory):
    """The ``ST_VIDEOS`` with the labels of a spatio-temporal grounding (``found``,
    ``frames.found_points``, ``frames.found_heatmap``), ground truth (``truth``, ``frames.gt``) and
    a stored spatio-temporal run ``st``."""
    folder = tmp_path_factory.mktemp("st_videos")
    wrong_box = [MISS_POINT[0] - 0.1, MISS_POINT[1] - 0.1, 0.2, 0.2]
    with persistent_dataset("videogem-browser-st") as ds:
        for name, color, found, truth in ST_VIDEOS:
            sample = fo.Sample(filepath=write_video(folder / ("%s.mp4" % name), color))
            sample["found"] = fo.TemporalDetections(detections=[
                fo.TemporalDetection(label=l, support=list(s), confidence=c) for l, s, c, _ in found])
            sample["truth"] = fo.TemporalDetections(detections=[
                fo.TemporalDetection(label=l, support=list(s)) for l, s in truth])
            for label, (first, last), _, right in found:
                point = HIT_POINT if right else MISS_POINT
                for fn in range(first, last + 1):
                    sample.frames[fn]["found_points"] = keypoints(point[0], label, verb_x=point[0], y=point[1])
                    sample.frames[fn]["found_heatmap"] = region_heatmap(VIDEO_BOX if right else wrong_box)
            for label, (first, last) in truth:
                for fn in range(first, last + 1):
                    sample.frames[fn]["gt"] = fo.Detections(
                        detections=[fo.Detection(label=label, bounding_box=VIDEO_BOX)])
            ds.add_sample(sample)
            del sample
        ds.compute_metadata(progress=False)
        ds.add_dynamic_frame_fields()
        configure_app(ds, "frames.found_points", "frames.found_heatmap", gt_field="frames.gt")
        evaluate_spatiotemporal(
            ds, "found", "truth", pred_points_field="frames.found_points",
            pred_heatmap_field="frames.found_heatmap", gt_boxes_field="frames.gt", eval_key="st",
            fps=10.0, progress=False,
        )
        yield ds




def test_spatiotemporal_run_in_the_triage_panel(app, browser, spatiotemporal_dataset):
    ds = spatiotemporal_dataset
    out = artifacts_dir()
    results = ds.load_evaluation_results("st")
    assert sorted(results.classwise_ap) == ST_PHRASES
    assert results.per_class()["pour milk"]["video_map"] == 1.0

    page = open_page(browser, "%s/datasets/%s" % (app.url, ds.name), len(ds))
    with screenshot_on_failure(page, out / "failure_st.png"):
        open_triage_panel(page, ready_text="IoU+Pointing per video (click a bar to open its misses as clips)")
        charts = wait_for_charts(page, len(ST_VIDEOS))
        assert charts.nth(0).locator(".xtick text").all_text_contents() == ST_PHRASES
        videos = charts.nth(1).locator(".xtick text").all_text_contents()
        assert sorted(videos) == sorted("%s.mp4" % v[0] for v in ST_VIDEOS), videos
        page.mouse.move(600, 850)
        page.wait_for_timeout(500)
        assert panel_overflow(page) == []

        # a phrase's missed ground-truth segments, as clips
        click_until_count(page, 0, ST_PHRASES.index(ST_CLICKED), ST_MISSED, "clip", out, "st_missed")
        page.locator('[data-cy="input-view-stage"][value="ToClips"]').first.wait_for(state="attached")
        page.get_by_text("Showing %d missed GT segments of '%s'" % (ST_MISSED, ST_CLICKED), exact=False).wait_for()

        # the same phrase's false segments
        page.get_by_text("false segments", exact=True).first.click()
        page.wait_for_timeout(1_000)
        click_until_count(page, 0, ST_PHRASES.index(ST_CLICKED), ST_FALSE, "clip", out, "st_false")
        page.get_by_text("Showing %d false segments of '%s'" % (ST_FALSE, ST_CLICKED), exact=False).wait_for()
        page.wait_for_timeout(2_000)  # thumbnails of the clips
        # for the picture: both charts in the panel
        page.get_by_text("Video AP per phrase", exact=False).first.evaluate("e => e.scrollIntoView({block: 'start'})")
        page.mouse.move(600, 850)
        page.wait_for_timeout(500)
        page.screenshot(path=str(out / "spatiotemporal.png"))

    update_doc_images(out, ["spatiotemporal.png"])


@pytest.fixture(scope="module")
def grounding_dataset(tmp_path_factory):
    """Two generated images with ground-truth boxes (a dataset of its own: the App's session keeps
    the view and the open sample of the other tests' datasets)."""
    folder = tmp_path_factory.mktemp("grounding")
    with persistent_dataset("videogem-browser-grounding") as ds:
        for j, (label, (color, _)) in enumerate(list(CLASSES.items())[:2]):
            path = folder / ("%s.png" % label.replace(" ", "_"))
            Image.fromarray(scene(color, seed=j)).save(path)
            ds.add_sample(fo.Sample(
                filepath=str(path), gt=fo.Detections(detections=[fo.Detection(label=label, bounding_box=BOX)])))
        ds.compute_metadata(progress=False)
        yield ds


def test_a_failing_grounding_run_shows_its_error(app, browser, grounding_dataset):
    ds = grounding_dataset
    out = artifacts_dir()
    page = open_page(browser, "%s/datasets/%s" % (app.url, ds.name), len(ds))
    with screenshot_on_failure(page, out / "failure_grounding.png"):
        open_operator_form(page, "ground actions", "Ground actions with VideoGEM",
                           ready_text="Checkpoint (optional)")
        checkpoint = page.locator("xpath=//*[text()='Checkpoint (optional)']/following::input[1]")
        checkpoint.fill("no-such-weights.pt")
        page.keyboard.press("Tab")
        execute = page.get_by_role("button", name="Execute", exact=True)
        expect(execute).to_be_enabled(timeout=SHORT)
        page.wait_for_timeout(1_000)  # the form resolves again after the edit
        execute.click()
        message = page.get_by_text("Grounding failed:", exact=False).first
        message.wait_for(timeout=LONG)
        text = message.inner_text()
        assert "no-such-weights.pt" in text and "correct the 'Checkpoint' path" in text, text
        page.screenshot(path=str(out / "grounding_failed.png"))
    ds.reload()
    assert "videogem" not in ds.get_field_schema()  # nothing written


# --------------------------------------------------------------------------------------
# Find actions in time
# --------------------------------------------------------------------------------------

FIND_VIDEOS = [("kitchen_a", (222, 184, 135)), ("kitchen_b", (135, 170, 222)), ("kitchen_c", (160, 210, 150))]
FIND_PHRASES = ["crack eggs", "pour milk"]
TEST_BACKBONE = "test-vit-tiny"
APP_PLUGIN = REPO / "tests" / "app_plugin"  # offers the test backbones in the form's dropdown


@pytest.fixture(scope="module")
def find_dataset(tmp_path_factory):
    """Generated videos without labels (a dataset of its own: the run switches the App's view)."""
    folder = tmp_path_factory.mktemp("find_videos")
    with persistent_dataset("videogem-browser-find") as ds:
        for name, color in FIND_VIDEOS:
            ds.add_sample(fo.Sample(filepath=write_video(folder / ("%s.mp4" % name), color)))
        ds.compute_metadata(progress=False)
        yield ds


def select_choice(page, label: str, value: str) -> None:
    """Picks ``value`` in the dropdown of a form field labelled ``label``."""
    page.locator("xpath=//*[text()='%s']/following::*[@role='combobox'][1]" % label).first.click()
    page.get_by_role("option", name=value, exact=False).first.click()
    expect(page.locator("xpath=//*[text()='%s']/following::input[1]" % label).first).to_have_value(value)


def test_find_actions_in_time_from_the_app(browser, find_dataset, tmp_path):
    ds = find_dataset
    out = artifacts_dir()
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "videogem").symlink_to(REPO, target_is_directory=True)
    (plugins / "test_backbones").symlink_to(APP_PLUGIN, target_is_directory=True)
    server = AppServer(ds.name, log_path=out / "server_find.log", env={"FIFTYONE_PLUGINS_DIR": str(plugins)})
    with server:
        page = open_page(browser, server.dataset_url(), len(ds))
        with screenshot_on_failure(page, out / "failure_find.png"):
            open_operator_form(page, "find actions", "Find actions in time", ready_text="Sampled frames per second")
            actions = page.locator("xpath=//*[text()='Actions']/following::textarea[1]").first
            actions.fill(", ".join(FIND_PHRASES))
            expect(page.locator('input[type="radio"][value="www"]').first).to_be_checked()
            select_choice(page, "Backbone", TEST_BACKBONE)
            random_weights = page.locator(
                "xpath=//*[text()='Random weights (to try the pipeline)']/preceding::input[@type='checkbox'][1]").first
            random_weights.check()
            expect(random_weights).to_be_checked()
            execute = page.get_by_role("button", name="Execute", exact=True)
            expect(execute).to_be_enabled(timeout=SHORT)
            page.wait_for_timeout(1_000)  # the form resolves again after the edits
            page.set_viewport_size({"width": VIEWPORT["width"], "height": 1600})  # the picture: the whole form
            page.get_by_text("Phrases", exact=True).first.scroll_into_view_if_needed()
            page.wait_for_timeout(1_000)
            page.screenshot(path=str(out / "find_actions_form.png"))
            page.set_viewport_size(VIEWPORT)
            execute.click()

            # the run's summary, then the clips of the segments it wrote
            summary = page.get_by_text("segment(s) in %d of %d video(s) into 'found'" % (len(ds), len(ds)),
                                       exact=False).first
            summary.wait_for(timeout=LONG)
            # a success notification (notistack's), and no error notification
            assert page.locator(".notistack-MuiContent-success").filter(has=summary).count() == 1
            assert page.locator(".notistack-MuiContent-error").count() == 0
            ds.reload()
            num_segments = ds.count("found.detections")
            assert num_segments > 0
            text = summary.inner_text()
            assert text.startswith("%d segment(s)" % num_segments) and "0 with failures" in text, text
            close_progress(page)
            wait_for_count(page, num_segments, noun="clip")
            page.locator('[data-cy="input-view-stage"][value="ToClips"]').first.wait_for(state="attached")
            # still no error notification
            assert page.locator(".notistack-MuiContent-error").count() == 0
            assert page.get_by_text("Grounding failed", exact=False).count() == 0
            page.wait_for_timeout(3_000)  # thumbnails of the clips
            dismiss_popovers(page)
            page.mouse.move(600, 850)
            page.wait_for_timeout(500)
            page.screenshot(path=str(out / "find_actions_clips.png"))

    # the labels in the database: segments of the typed phrases, and points and heatmaps on their frames
    labels = ds.distinct("found.detections.label")
    assert labels and set(labels) <= set(FIND_PHRASES), labels
    assert ds.count("frames.found_points") > 0 and ds.count("frames.found_heatmap") > 0
    update_doc_images(out, ["find_actions_form.png", "find_actions_clips.png"])
