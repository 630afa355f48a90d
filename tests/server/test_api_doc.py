"""API.md describes the verdict log from the same definition the server checks with (unmask/contract.py)."""

from __future__ import annotations

import re
from pathlib import Path

from unmask.contract import LOG_FIELDS, LOG_SCHEMA_FILE, VIDEO_FIELD, VIDEO_FIELDS

API_MD = Path(__file__).resolve().parents[2] / "server" / "API.md"


def _table_fields() -> set[str]:
    """The field names in the first column of the verdict-log table."""
    section = API_MD.read_text(encoding="utf-8").split("## Verdict logs", 1)[1].split("\n## ", 1)[0]
    return {name for row in re.findall(r"^\| (.+?) \|", section, re.MULTILINE) for name in re.findall(r"`(\w+)`", row)}


def test_the_log_table_has_exactly_the_contract_fields() -> None:
    assert _table_fields() == {field.name for field in LOG_FIELDS} | {VIDEO_FIELD}


def test_the_video_row_names_every_clip_field() -> None:
    text = API_MD.read_text(encoding="utf-8")
    video_row = next(line for line in text.splitlines() if line.startswith(f"| `{VIDEO_FIELD}` |"))
    assert [field.name for field in VIDEO_FIELDS if f'"{field.name}"' not in video_row] == []


def test_the_generated_schema_is_pointed_to() -> None:
    assert f"/model/{LOG_SCHEMA_FILE}" in API_MD.read_text(encoding="utf-8")
