"""The model card the server serves (MODEL_DIR/metadata.json) is the one source of the verdict policy: the
browser reads its policy from that file, and the server checks posted verdicts against the same file, so
the two can never disagree. The card is re-read when the file changes (a new model deployed)."""

from __future__ import annotations

import json
from pathlib import Path

from quart import current_app

from unmask.contract import CARD_FILE, VerdictPolicy
from unmask.server.errors import ApiError

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
        policy = VerdictPolicy.from_card(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as error:  # ContractError and JSONDecodeError are ValueErrors
        current_app.logger.error("the served model card %s is unreadable: %s", path, error)
        raise ApiError(503, "no readable model card is served, so verdicts cannot be checked") from None
    _cache[str(path)] = (stamp, policy)
    return policy
