"""Is the model hub reachable? Answered in seconds, before a download starts.

Pretrained weights come from the Hugging Face hub (open_clip's and ViCLIP's). On a machine without
access, the hub client retries every file for a minute or more, printing a warning per try, before
it gives up. :func:`ensure_weights_available` answers first: weights already in the local cache are
used as they are; otherwise ``HF_HUB_OFFLINE`` is honoured and the hub (or the proxy that leads to
it) gets one short TCP connection attempt. When the weights cannot come, one
:class:`WeightsUnavailableError` says what to pass instead.

Torch-free; ``huggingface_hub`` is imported only to look into its cache.
"""

from __future__ import annotations

import logging
import os
import socket
import urllib.parse
import urllib.request
from typing import Sequence

logger = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "https://huggingface.co"
PROBE_TIMEOUT_SECONDS = 3.0
_TRUE = frozenset({"1", "on", "yes", "true"})


class WeightsUnavailableError(RuntimeError):
    """The pretrained weights are not on this machine and cannot be downloaded now."""


def hub_endpoint() -> str:
    """The hub address: ``HF_ENDPOINT`` or https://huggingface.co."""
    return os.environ.get("HF_ENDPOINT", "").strip().rstrip("/") or DEFAULT_ENDPOINT


def hub_offline() -> bool:
    """Whether ``HF_HUB_OFFLINE`` asks for no network access."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE


def cached_hub_file(repo_id: str, filenames: Sequence[str]) -> str | None:
    """The local path of the first of ``filenames`` of ``repo_id`` already in the hub cache, or None."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - a dependency of open_clip
        return None
    for filename in filenames:
        path = try_to_load_from_cache(repo_id, filename)
        if isinstance(path, str) and os.path.isfile(path):
            return path
    return None


def probe_address(url: str) -> tuple[str, int]:
    """The ``(host, port)`` a connection to ``url`` opens first: the proxy's when one applies."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    proxy = urllib.request.getproxies().get(parts.scheme)
    if proxy and host and not urllib.request.proxy_bypass(host):
        proxy_parts = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        return proxy_parts.hostname or "", proxy_parts.port or (443 if proxy_parts.scheme == "https" else 80)
    return host, parts.port or (443 if parts.scheme == "https" else 80)


def unreachable_reason(url: str, timeout: float = PROBE_TIMEOUT_SECONDS) -> str | None:
    """None when a TCP connection to ``url``'s host (or its proxy) opens within ``timeout`` seconds,
    else why not."""
    host, port = probe_address(url)
    if not host:
        return f"{url!r} names no host"
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as error:  # refused, no route, DNS failure, timeout
        return f"{host}:{port}: {error.strerror or error}"


def ensure_weights_available(what: str, repo_id: str, filenames: Sequence[str], alternatives: str,
                             timeout: float = PROBE_TIMEOUT_SECONDS) -> None:
    """Raise :class:`WeightsUnavailableError` quickly when the hub file cannot come.

    Args:
        what: the weights, in words, for the message
        repo_id: the hub repository
        filenames: candidate files of the repository (any one in the cache is enough)
        alternatives: what the user can pass instead, for the message
        timeout: seconds to wait for the hub's TCP connection (3)
    """
    if cached_hub_file(repo_id, filenames):
        return
    endpoint = hub_endpoint()
    if hub_offline():
        reason = "HF_HUB_OFFLINE is set and they are not in the local cache"
    else:
        problem = unreachable_reason(endpoint, timeout)
        if problem is None:
            return
        reason = f"the model hub {endpoint} cannot be reached ({problem})"
    raise WeightsUnavailableError(
        f"the pretrained weights of {what} are not on this machine and cannot be downloaded: {reason}. "
        f"They are the file {filenames[0]!r} of the Hugging Face repository {repo_id!r}; download it on a "
        f"machine with access and {alternatives}"
    )
