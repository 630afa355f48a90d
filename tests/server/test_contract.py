"""unmask/contract.py: the typed log agrees with the field table, and a card's policy reads back exactly."""

from __future__ import annotations

import pytest

from unmask.contract import (
    LOG_FIELDS,
    POLICY,
    VIDEO_FIELD,
    VIDEO_FIELDS,
    ContractError,
    VerdictLog,
    VerdictPolicy,
    VideoSummary,
)


def test_the_typed_log_has_exactly_the_fields_of_the_table() -> None:
    assert set(VerdictLog.__annotations__) == {field.name for field in LOG_FIELDS} | {VIDEO_FIELD}
    assert set(VerdictLog.__required_keys__) == {field.name for field in LOG_FIELDS if field.required}


def test_the_typed_clip_summary_has_exactly_the_video_fields() -> None:
    assert list(VideoSummary.__annotations__) == [field.name for field in VIDEO_FIELDS]


def test_a_policy_written_into_a_card_reads_back_the_same() -> None:
    assert VerdictPolicy.from_card(POLICY.card_fields()) == POLICY


def test_a_band_turned_around_is_refused_by_name() -> None:
    with pytest.raises(ContractError, match="uncertain_band"):
        VerdictPolicy.from_card({**POLICY.card_fields(), "uncertain_band": [0.65, 0.35]})


def test_a_fractional_video_share_is_refused() -> None:
    with pytest.raises(ContractError, match="video_flagged_percent"):
        VerdictPolicy.from_card({**POLICY.card_fields(), "video_flagged_percent": 0.3})
