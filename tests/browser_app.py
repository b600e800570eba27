"""Starts and stops a FiftyOne App server for the browser test.

Run as a script, it serves one persistent dataset until it is terminated::

    python tests/browser_app.py <dataset_name> <port>

The test uses :class:`AppServer`, which runs this script in a subprocess with
``FIFTYONE_DO_NOT_TRACK=true`` (no analytics banner), waits until ``GET /fiftyone``
answers and, on exit, terminates the script together with the server service it spawned.
The server service does not exit when its parent is killed, so it is stopped explicitly;
the shared database service is left alone.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Optional

logger = logging.getLogger(__name__)

READY_TIMEOUT = 90.0

CHROMIUM = "/usr/bin/chromium"
"""Debian's Chromium, which Playwright drives (``executable_path``)."""
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


def dismiss_popovers(page, wait: int = 0) -> None:
    """Closes the "Explore Enterprise" popover, which intercepts clicks (it may take ``wait``
    milliseconds to appear)."""
    button = page.get_by_role("button", name="Dismiss")
    try:
        if wait:
            button.first.wait_for(timeout=wait)
        if button.count():
            button.first.click(timeout=2_000)
    except Exception:
        pass


def open_operator_browser(page, query: str, labels, timeout: int = 15_000):
    """Opens the App's operator browser (backtick key, else the toolbar button), types ``query`` and
    returns the browser's dialog once it lists every one of ``labels`` (retried three times)."""
    dialog = page.locator(".MuiDialog-root")
    for attempt in range(3):
        dismiss_popovers(page)
        if attempt == 0:
            page.keyboard.press("`")
        else:
            page.locator('[data-cy="action-browse-operations"]').first.click()
        try:
            page.keyboard.type(query)
            for label in labels:
                dialog.get_by_text(label, exact=True).first.wait_for(timeout=timeout)
            return dialog
        except Exception:
            page.keyboard.press("Escape")
    raise AssertionError(f"the operator browser did not list {list(labels)}")


def save_doc_image(source: Path, target: Path) -> None:
    """Saves a screenshot for the documentation with a 256-colour palette (small files); the octree
    method keeps the colours of small labels (points) that median cut merges away."""
    from PIL import Image

    target.parent.mkdir(parents=True, exist_ok=True)
    image = Image.open(source).convert("RGB").quantize(colors=256, method=Image.Quantize.FASTOCTREE)
    image.save(target, optimize=True)


def free_port() -> int:
    """Returns a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _is_database_service(proc) -> bool:
    try:
        cmdline = " ".join(proc.cmdline())
    except Exception:
        return False
    return "--51-service db" in cmdline or "mongod" in cmdline


class AppServer:
    """A FiftyOne App server for one dataset, in a subprocess.

    Args:
        dataset_name: a persistent dataset
        port (None): the port (a free one by default)
        log_path (None): where the server's stdout/stderr go (a temporary file by default)
        env (None): extra environment variables for the server
    """

    def __init__(
        self,
        dataset_name: str,
        port: Optional[int] = None,
        log_path: Optional[Path] = None,
        env: Optional[dict] = None,
    ):
        self.dataset_name = dataset_name
        self.port = port or free_port()
        self.log_path = Path(log_path) if log_path else None
        self.env = dict(env or {})
        self.proc: Optional[subprocess.Popen] = None
        self._log_file = None
        self._tree: list = []

    @property
    def url(self) -> str:
        return "http://127.0.0.1:%d" % self.port

    def dataset_url(self) -> str:
        return "%s/datasets/%s" % (self.url, urllib.request.quote(self.dataset_name))

    def start(self, timeout: float = READY_TIMEOUT) -> "AppServer":
        env = {**os.environ, **self.env, "FIFTYONE_DO_NOT_TRACK": "true"}
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log_file = open(self.log_path, "w")
            out = self._log_file
        else:
            out = subprocess.DEVNULL
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), self.dataset_name, str(self.port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        self._remember_tree()
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last_error = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    "The App server exited with code %s before it was ready; see %s"
                    % (self.proc.returncode, self.log_path or "its output")
                )
            try:
                with urllib.request.urlopen(self.url + "/fiftyone", timeout=5) as response:
                    if json.loads(response.read()).get("version"):
                        return
            except (urllib.error.URLError, OSError, ValueError) as e:
                last_error = e
            time.sleep(0.5)
        raise TimeoutError(
            "The App server on port %d did not answer within %.0f s (last error: %s)"
            % (self.port, timeout, last_error)
        )

    def _remember_tree(self) -> None:
        import psutil

        try:
            children = psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.Error:
            children = []
        self._tree = [c for c in children if not _is_database_service(c)]

    def stop(self, grace: float = 10.0) -> None:
        """Terminates the script and the server service it started."""
        import psutil

        if self.proc is None:
            return
        if self.proc.poll() is None:
            self._remember_tree()
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(grace)

        alive = []
        for child in self._tree:
            try:
                if child.is_running():
                    child.terminate()
                    alive.append(child)
            except psutil.Error:
                pass
        _, still_alive = psutil.wait_procs(alive, timeout=grace)
        for child in still_alive:
            try:
                child.kill()
            except psutil.Error:
                pass
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        self.proc = None

    def __enter__(self) -> "AppServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(dataset_name: str, port: int) -> None:
    """Serves ``dataset_name`` on ``127.0.0.1:port`` until SIGTERM/SIGINT."""
    import fiftyone as fo

    def _terminate(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _terminate)
    dataset = fo.load_dataset(dataset_name)
    session = fo.launch_app(dataset, remote=True, port=port, address="127.0.0.1")
    try:
        logger.info("Serving '%s' at %s", dataset_name, session.url)
        session.wait(-1)
    finally:
        session.close()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    main(sys.argv[1], int(sys.argv[2]))
