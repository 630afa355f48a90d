"""The model card the server serves (MODEL_DIR/metadata.json) is the one source of the verdict policy: the
browser reads its threshold from that file, and the server checks posted verdicts against the same file, so
the two can never disagree. The card is re-read when the file changes (a new model deployed)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import NamedTuple

from quart import current_app

from unmask.server.errors import ApiError

CARD_FILE = "metadata.json"


class VerdictPolicy(NamedTuple):
    threshold: float


_cache: dict[str, tuple[tuple[int, int], VerdictPolicy]] = {}


def verdict_policy() -> VerdictPolicy:
    """The served card's policy; 503 when no readable card is served (no verdict can be checked then)."""
    path = Path(current_app.config["MODEL_DIR"]) / CARD_FILE
    try:
        info = path.stat()
        stamp = (info.st_mtime_ns, info.st_size)
        cached = _cache.get(str(path))
        if cached and cached[0] == stamp:
            return cached[1]
        threshold = json.loads(path.read_text(encoding="utf-8"))["threshold"]
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 < threshold < 1 \
                or not math.isfinite(threshold):
            raise ValueError(f"threshold {threshold!r}")
    except (OSError, ValueError, KeyError, TypeError) as error:
        current_app.logger.error("the served model card %s is unreadable: %s", path, error)
        raise ApiError(503, "no readable model card is served, so verdicts cannot be checked") from None
    policy = VerdictPolicy(float(threshold))
    _cache[str(path)] = (stamp, policy)
    return policy
