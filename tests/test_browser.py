"""Drives the real FiftyOne App in headless Chromium: run the pointing-game operator from its
form, open the VideoGEM triage panel, check that its charts render, and that clicking a class
bar changes the App's view.

Needs Debian's ``chromium`` (``/usr/bin/chromium``) and the ``playwright`` Python package
(without ``playwright install``). Screenshots go to ``$VIDEOGEM_ARTIFACTS/browser`` (default
``artifacts/browser``); with ``VIDEOGEM_UPDATE_DOC_IMAGES=1`` the ones used by
``docs/triage.md`` are also copied to ``docs/images/``.
"""

import os
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect, sync_playwright

import fiftyone as fo

from tests.browser_app import AppServer

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DOC_IMAGES = {
    "operator_form.png": "triage_operator_form.png",
    "panel.png": "triage_panel.png",
    "class_click.png": "triage_class_click.png",
    "worst_misses.png": "triage_worst_misses.png",
}

BOX = [0.3, 0.3, 0.4, 0.45]
# class -> (scene colour, number of misses among its 4 images)
CLASSES = {
    "crack eggs": ((222, 184, 135), 1),
    "pour milk": ((135, 170, 222), 3),
    "cut onion": ((160, 210, 150), 2),
}
IMAGES_PER_CLASS = 4
WORST_CLASS = "pour milk"

SHORT = 15_000  # ms
LONG = 60_000  # ms


def artifacts_dir() -> Path:
    root = Path(os.environ.get("VIDEOGEM_ARTIFACTS", REPO / "artifacts"))
    path = root / "browser"
    path.mkdir(parents=True, exist_ok=True)
    return path


def scene(color, seed: int, size=(192, 144)) -> np.ndarray:
    """A small synthetic frame: a shaded background and an object where the box is."""
    width, height = size
    rng = np.random.default_rng(seed)
    shade = np.linspace(0.55, 1.0, height)[:, None, None]
    img = (np.array(color)[None, None, :] * shade).repeat(width, axis=1)
    img = img + rng.normal(0, 6, img.shape)
    x, y, w, h = BOX
    x1, y1 = int(x * width), int(y * height)
    x2, y2 = int((x + w) * width), int((y + h) * height)
    img[y1:y2, x1:x2] = np.array(color)[::-1] * 0.6 + 40
    return np.clip(img, 0, 255).astype(np.uint8)


def keypoints(x: float, label: str, verb_x: float) -> fo.Keypoints:
    def kp(component, name, px):
        return fo.Keypoint(label=name, points=[(px, 0.52)], component=component, heat=0.7)

    verb, obj = label.split()[0], label.split()[-1]
    return fo.Keypoints(
        keypoints=[kp("final", label, x), kp("action", label, x), kp("verb", verb, verb_x), kp("object", obj, x)]
    )


@pytest.fixture
def browser_dataset(tmp_path):
    """A persistent dataset (the App server runs in another process) of 12 generated
    images with ground-truth boxes and VideoGEM-style points; deleted afterwards."""
    ds = fo.Dataset("videogem-browser-%s" % uuid.uuid4().hex[:12], persistent=True)
    try:
        samples = []
        for c, (label, (color, num_misses)) in enumerate(CLASSES.items()):
            for j in range(IMAGES_PER_CLASS):
                path = tmp_path / ("%s-%d.png" % (label.replace(" ", "_"), j))
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
        ds.compute_metadata(progress=False)
        yield ds
    finally:
        if fo.dataset_exists(ds.name):
            fo.delete_dataset(ds.name)


def dismiss_popovers(page) -> None:
    """Closes the "Explore Enterprise" popover, which intercepts clicks."""
    button = page.get_by_role("button", name="Dismiss")
    try:
        if button.count():
            button.first.click(timeout=2_000)
    except Exception:
        pass


def wait_for_count(page, count: int, timeout: int = LONG) -> None:
    text = "1 sample" if count == 1 else "%d samples" % count
    page.get_by_text(text, exact=True).first.wait_for(timeout=timeout)


def open_operator_form(page, query: str, label: str) -> None:
    """Opens the operator browser (backtick key, else the toolbar button), filters it and
    opens the operator's form."""
    for attempt in range(3):
        dismiss_popovers(page)
        if attempt == 0:
            page.keyboard.press("`")
        else:
            page.locator('[data-cy="action-browse-operations"]').first.click()
        item = page.get_by_text(label, exact=True)
        try:
            page.keyboard.type(query)
            item.first.wait_for(timeout=SHORT)
        except Exception:
            page.keyboard.press("Escape")
            continue
        page.keyboard.press("Enter")
        page.get_by_text("Predicted points", exact=True).wait_for(timeout=SHORT)
        return
    raise AssertionError("The operator browser did not list '%s'" % label)


def wait_for_evaluation(ds, eval_key: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ds.reload()
        if eval_key in ds.list_evaluations():
            return
        time.sleep(0.5)
    raise AssertionError("The operator did not store evaluation '%s'" % eval_key)


def click_bar(page, chart_index: int, bar_index: int) -> None:
    """Clicks the middle of a bar of a Plotly chart (Plotly listens on its drag layer, so a
    mouse click at the bar's position is what a user does)."""
    bar = page.locator(".js-plotly-plot").nth(chart_index).locator(".bars .point path").nth(bar_index)
    box = bar.bounding_box()
    assert box is not None and box["height"] > 0, "the bar is not displayed"
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


def test_evaluate_and_triage_in_the_app(browser_dataset):
    ds = browser_dataset
    out = artifacts_dir()
    num_samples = len(ds)
    worst_misses = CLASSES[WORST_CLASS][1]
    num_misses = sum(m for _, m in CLASSES.values())

    with AppServer(ds.name, log_path=out / "server.log") as app, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(SHORT)
            page.goto(app.dataset_url(), wait_until="domcontentloaded")
            wait_for_count(page, num_samples)
            dismiss_popovers(page)
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
            done = page.get_by_role("button", name="Done", exact=True)
            done.wait_for(timeout=LONG)
            page.screenshot(path=str(out / "operator_done.png"))
            done.click()
            results = ds.load_evaluation_results("pointing")
            assert results.num_hits == num_samples - num_misses
            assert "pointing-misses" in ds.list_saved_views()

            # 2. the panel, from the "+" menu
            dismiss_popovers(page)
            page.locator('[data-cy="new-panel-btn"]').first.click()
            page.get_by_text("VideoGEM triage", exact=True).first.click()
            charts = page.locator(".js-plotly-plot")
            charts.nth(1).locator(".bars .point path").nth(len(CLASSES) - 1).wait_for(timeout=LONG)
            assert charts.count() == 2
            assert charts.nth(0).locator("svg.main-svg").count() >= 1
            assert charts.nth(0).locator(".bars .point path").count() == 4  # overall + 3 components
            ticks = charts.nth(1).locator(".xtick text").all_text_contents()
            assert ticks[0] == WORST_CLASS, ticks
            page.get_by_text("Worst misses (largest distance to the ground truth)").wait_for()
            page.mouse.move(600, 850)  # off the thumbnails, so none is highlighted
            page.wait_for_timeout(500)  # let the bars finish their transition
            page.screenshot(path=str(out / "panel.png"))

            # 3. a click on the worst class's bar shows its misses
            wait_for_count(page, num_samples, timeout=SHORT)
            for attempt in range(2):
                click_bar(page, chart_index=1, bar_index=0)
                try:
                    wait_for_count(page, worst_misses, timeout=SHORT + 10_000 * attempt)
                    break
                except Exception:
                    if attempt:
                        page.screenshot(path=str(out / "class_click_failed.png"))
                        raise
            page.locator("[data-cy=\"input-view-stage\"][value=\"Match\"]").first.wait_for()
            page.get_by_text("Showing misses of '%s'" % WORST_CLASS, exact=False).wait_for()
            page.wait_for_timeout(2_000)  # thumbnails of the new view
            page.screenshot(path=str(out / "class_click.png"))

            # 4. the button shows every miss, worst first
            page.get_by_role("button", name="Show all misses").click()
            wait_for_count(page, num_misses)
            page.get_by_text("Worst misses (largest distance to the ground truth)").scroll_into_view_if_needed()
            page.wait_for_timeout(2_000)
            page.screenshot(path=str(out / "worst_misses.png"))

            # 5. a row action of the worst-misses table shows that one miss
            page.get_by_role("button", name="Show", exact=True).first.click()
            wait_for_count(page, 1)
            # the worst miss: the largest distance, ties broken by class name
            farthest = max(d for d, hit in zip(results.distances, results.hits) if not hit)
            worst_class = min(
                c
                for c, d, hit in zip(results.frame_classes, results.distances, results.hits)
                if not hit and d == farthest
            )
            page.get_by_text("Showing miss #1 (%s)" % worst_class, exact=False).wait_for()
        except Exception:
            page.screenshot(path=str(out / "failure.png"))
            raise
        finally:
            browser.close()

    if os.environ.get("VIDEOGEM_UPDATE_DOC_IMAGES") == "1":
        images = REPO / "docs" / "images"
        images.mkdir(parents=True, exist_ok=True)
        for source, target in DOC_IMAGES.items():
            # a 256-colour palette keeps the documentation images small
            Image.open(out / source).convert("RGB").quantize(colors=256).save(
                images / target, optimize=True
            )
