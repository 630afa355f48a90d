"""The one contract between the model, the page and the server: what the model takes and gives, how a
probability becomes a verdict, and what a verdict log is.

Its only carrier is the model card (`web/model/metadata.json`, written by `unmask export`): the browser
reads every number of the policy from the card, and the server checks posted logs against the card it
serves. `unmask export` also writes the JSON Schema of the verdict log beside the card
(`verdict-log.schema.json`), generated from `LOG_FIELDS` below; the server's checks use the same fields.

Plain Python with no third-party import: the server imports it without TensorFlow.
"""

# No `from __future__ import annotations` here: VerdictLog must see NotRequired to know its optional keys.
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal, NotRequired, TypedDict

CARD_FILE = "metadata.json"
LOG_SCHEMA_FILE = "verdict-log.schema.json"


class ContractError(ValueError):
    """A model card that breaks the contract: the page could not run the model or judge with it."""


# ---------------------------------------------------------------------------------------------------------
# Input and outputs


@dataclass(frozen=True)
class InputSpec:
    """The model's input as the page makes it (web/js/preprocess.js): one square RGB picture in [0, 1]."""

    size: int = 128
    channels: int = 3
    dtype: str = "float32"
    value_range: tuple[float, float] = (0.0, 1.0)

    @property
    def shape(self) -> list[int]:
        return [1, self.size, self.size, self.channels]


INPUT = InputSpec()
# The outputs the page reads: the verdict's number and the evidence map it draws over the picture.
PROBABILITY_OUTPUT = "probability"
EVIDENCE_OUTPUT = "evidence"


def check_runnable(input_shape: list[int], outputs: Mapping[str, list[int]]) -> None:
    """Raise ContractError, saying why, when the page cannot run a model of this input and these outputs."""
    if list(input_shape) != INPUT.shape:
        raise ContractError(
            f"the model takes input of shape {list(input_shape)}, but the page makes "
            f"{INPUT.shape} (one {INPUT.size}x{INPUT.size} RGB picture)"
        )
    for name in (PROBABILITY_OUTPUT, EVIDENCE_OUTPUT):
        if name not in outputs:
            raise ContractError(
                f"the model has no '{name}' output (it has: {', '.join(sorted(outputs)) or 'none'}); "
                "the page needs the probability and the evidence map it draws"
            )
    if list(outputs[PROBABILITY_OUTPUT]) != [1, 1]:
        raise ContractError(
            f"the '{PROBABILITY_OUTPUT}' output has shape {list(outputs[PROBABILITY_OUTPUT])}, "
            "the page reads one number: [1, 1]"
        )
    evidence = list(outputs[EVIDENCE_OUTPUT])
    if len(evidence) != 4 or evidence[0] != 1 or evidence[3] != 1 or min(evidence) < 1:
        raise ContractError(
            f"the '{EVIDENCE_OUTPUT}' output has shape {evidence}, the page draws a map of shape [1, rows, columns, 1]"
        )


# ---------------------------------------------------------------------------------------------------------
# Verdict policy


@dataclass(frozen=True)
class VerdictPolicy:
    """How a probability becomes a verdict, and what is too small to judge. Written into the model card
    as top-level keys of the same names."""

    # A calibrated fake probability at or above this is a "deepfake" verdict.
    threshold: float = 0.5
    # Probabilities in [low, high) are shown as "uncertain": the model is calibrated, so at 0.35 or 0.65 one
    # verdict in three would still be wrong.
    uncertain_band: tuple[float, float] = (0.35, 0.65)
    # A face whose square crop is smaller than the input is not judged: enlarged to it, it has lost the finest
    # pixel relationships the model reads. Shrunk to 80 px and enlarged again, the StyleGAN2 test faces were
    # ranked at chance (AUC 0.51 against 0.92 at 128 px; FaceSwap 0.68 against 0.88; bench/small_faces.py).
    min_face_crop_px: int = INPUT.size
    # A picture judged whole needs at least this many pixels on its shorter side, for the same reason.
    min_picture_side_px: int = INPUT.size
    # A picture whose largest per-channel standard deviation (0-255) is below this is flat: no verdict.
    min_pixel_spread: float = 4.0
    # A clip is a deepfake when at least this percentage of its judged frames is (an integer, so that no
    # rounding of 0.3 * frames can move the rule), or when the mean of its frame scores is.
    video_flagged_percent: int = 30

    def verdict(self, probability: float) -> Literal["real", "deepfake"]:
        return "deepfake" if probability >= self.threshold else "real"

    def uncertain(self, probability: float) -> bool:
        low, high = self.uncertain_band
        return low <= probability < high

    def card_fields(self) -> dict[str, Any]:
        """The policy as the card's top-level keys (JSON has lists, not tuples)."""
        return {name: list(value) if isinstance(value, tuple) else value for name, value in asdict(self).items()}

    @classmethod
    def from_card(cls, card: Mapping[str, Any]) -> "VerdictPolicy":
        """The policy a card carries; ContractError naming the first key that is missing or out of range."""
        if not isinstance(card, Mapping):
            raise ContractError("the model card is not a JSON object")
        threshold = _probability(card, "threshold", open_interval=True)
        band = card.get("uncertain_band")
        if not (
            isinstance(band, list)
            and len(band) == 2
            and all(_is_number(edge) for edge in band)
            and 0 <= band[0] <= band[1] <= 1
        ):
            raise ContractError(f"uncertain_band {band!r} must be [low, high] with 0 <= low <= high <= 1")
        return cls(
            threshold=threshold,
            uncertain_band=(float(band[0]), float(band[1])),
            min_face_crop_px=_whole(card, "min_face_crop_px", 1),
            min_picture_side_px=_whole(card, "min_picture_side_px", 1),
            min_pixel_spread=_number(card, "min_pixel_spread", 0.0, 255.0),
            video_flagged_percent=_whole(card, "video_flagged_percent", 1, 100),
        )


POLICY = VerdictPolicy()


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def _number(card: Mapping[str, Any], key: str, low: float, high: float) -> float:
    value = card.get(key)
    if not _is_number(value) or not low <= value <= high:
        raise ContractError(f"{key} {value!r} must be a number from {low:g} to {high:g}")
    return float(value)


def _probability(card: Mapping[str, Any], key: str, open_interval: bool) -> float:
    value = _number(card, key, 0.0, 1.0)
    if open_interval and value in (0.0, 1.0):
        raise ContractError(f"{key} {value!r} must lie strictly between 0 and 1")
    return value


def _whole(card: Mapping[str, Any], key: str, low: int, high: int | None = None) -> int:
    value = card.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        raise ContractError(f"{key} {value!r} must be a whole number from {low}" + (f" to {high}" if high else " up"))
    return value


# ---------------------------------------------------------------------------------------------------------
# The verdict log


VERDICTS = ("real", "deepfake")
KINDS = ("image", "video")
# What the file said about itself (read on the device): one word, never the metadata itself.
PROVENANCES = ("none", "camera", "edited", "declared_ai", "credential_valid", "credential_invalid")
MAX_DIMENSION = 100_000
MAX_FACES = 10_000
MAX_INFERENCE_MS = 600_000.0
MAX_VIDEO_DURATION_S = 7 * 24 * 3600.0
UUID_PATTERN = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
SHA256_PATTERN = "[0-9a-f]{64}"
MODEL_VERSION_PATTERN = "[A-Za-z0-9._-]{1,64}"
# RFC 3339, what the browser's Date.toISOString() writes: a time zone is required.
TIMESTAMP_PATTERN = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:\d{2})"

FieldType = Literal["string", "integer", "number", "boolean"]


@dataclass(frozen=True)
class LogField:
    """One field of the verdict log: its JSON type and bounds (the server adds checks no schema states, such
    as text that looks like image data)."""

    name: str
    type: FieldType
    description: str
    required: bool = True
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = None
    pattern: str | None = None
    choices: tuple[str, ...] | None = None

    def schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {
            "type": self.type if self.required else [self.type, "null"],
            "description": self.description,
        }
        if self.choices is not None:
            schema["enum"] = [*self.choices, *([] if self.required else [None])]
        if self.minimum is not None:
            schema["minimum"] = self.minimum
        if self.maximum is not None:
            schema["maximum"] = self.maximum
        if self.type == "string" and self.choices is None:
            schema["minLength"] = 1
        if self.max_length is not None:
            schema["maxLength"] = self.max_length
        if self.pattern is not None:
            schema["pattern"] = f"^{self.pattern}$"
        return schema


LOG_FIELDS: tuple[LogField, ...] = (
    LogField("id", "string", "canonical lowercase UUID, made by the browser", max_length=36, pattern=UUID_PATTERN),
    LogField("image_sha256", "string", "SHA-256 of the file, 64 lowercase hex digits", pattern=SHA256_PATTERN),
    LogField("width", "integer", "picture width in px", minimum=1, maximum=MAX_DIMENSION),
    LogField("height", "integer", "picture height in px", minimum=1, maximum=MAX_DIMENSION),
    LogField(
        "probability", "number", "calibrated fake probability (a video: the clip's score)", minimum=0.0, maximum=1.0
    ),
    LogField("verdict", "string", "'deepfake' exactly when probability >= the card's threshold", choices=VERDICTS),
    LogField("uncertain", "boolean", "true exactly when probability lies in the card's uncertain_band [low, high)"),
    LogField("model_version", "string", "the card's version", max_length=64, pattern=MODEL_VERSION_PATTERN),
    LogField("backend", "string", "the TensorFlow.js backend that ran the model", max_length=32),
    LogField("inference_ms", "number", "time the analysis took", minimum=0.0, maximum=MAX_INFERENCE_MS),
    LogField("analysed_at", "string", "RFC 3339 time with a time zone", pattern=TIMESTAMP_PATTERN),
    LogField("kind", "string", "what was analysed", choices=KINDS),
    LogField("label", "string", "the user's note", required=False, max_length=200),
    LogField("file_name", "string", "only when the user chose to keep file names", required=False, max_length=255),
    LogField(
        "faces",
        "integer",
        "faces judged (0: the whole picture); a video: the most in one frame",
        required=False,
        minimum=0,
        maximum=MAX_FACES,
    ),
    LogField(
        "provenance", "string", "what the file said about itself, in one word", required=False, choices=PROVENANCES
    ),
)
# The `video` object, required exactly when kind is "video".
VIDEO_FIELDS: tuple[LogField, ...] = (
    LogField("frames", "integer", "frames judged", minimum=1, maximum=MAX_DIMENSION),
    LogField("duration_s", "number", "clip length", minimum=0.0, maximum=MAX_VIDEO_DURATION_S),
    LogField("mean_probability", "number", "mean of the frame probabilities", minimum=0.0, maximum=1.0),
    LogField("max_probability", "number", "highest frame probability (>= mean_probability)", minimum=0.0, maximum=1.0),
    LogField("share_flagged", "number", "share of judged frames at or above the threshold", minimum=0.0, maximum=1.0),
)
VIDEO_FIELD = "video"
LOG_FIELD = {field.name: field for field in LOG_FIELDS}


class VideoSummary(TypedDict):
    frames: int
    duration_s: float
    mean_probability: float
    max_probability: float
    share_flagged: float


class VerdictLog(TypedDict):
    """The body of POST /api/verdicts (see LOG_FIELDS for each field's rule)."""

    id: str
    image_sha256: str
    width: int
    height: int
    probability: float
    verdict: Literal["real", "deepfake"]
    uncertain: bool
    model_version: str
    backend: str
    inference_ms: float
    analysed_at: str
    kind: Literal["image", "video"]
    label: NotRequired[str | None]
    file_name: NotRequired[str | None]
    faces: NotRequired[int | None]
    provenance: NotRequired[str | None]
    video: NotRequired[VideoSummary | None]


def verdict_log_schema(policy: VerdictPolicy) -> dict[str, Any]:
    """JSON Schema (2020-12) of a verdict log judged under `policy`: the fields and their bounds, the
    kind-specific `video` part, and the verdict and uncertain flag that the probability implies."""
    low, high = policy.uncertain_band
    video = {
        "type": "object",
        "description": "the clip's numbers, required exactly when kind is 'video'",
        "properties": {field.name: field.schema() for field in VIDEO_FIELDS},
        "required": [field.name for field in VIDEO_FIELDS],
        "additionalProperties": False,
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Unmask verdict log",
        "description": "The body of POST /api/verdicts, generated by `unmask export` from unmask/contract.py "
        "for the model card beside it.",
        "type": "object",
        "properties": {
            **{field.name: field.schema() for field in LOG_FIELDS},
            VIDEO_FIELD: {"anyOf": [video, {"type": "null"}]},
        },
        "required": [field.name for field in LOG_FIELDS if field.required],
        "additionalProperties": False,
        "allOf": [
            _implies(
                {"probability": {"minimum": policy.threshold}},
                {"verdict": {"const": "deepfake"}},
                {"verdict": {"const": "real"}},
            ),
            _implies(
                {"probability": {"minimum": low, "exclusiveMaximum": high}},
                {"uncertain": {"const": True}},
                {"uncertain": {"const": False}},
            ),
            _implies(
                {"kind": {"const": "video"}},
                {VIDEO_FIELD: video},
                {VIDEO_FIELD: {"type": "null"}},
                then_requires=[VIDEO_FIELD],
            ),
        ],
    }


def _implies(
    condition: dict[str, Any], then: dict[str, Any], otherwise: dict[str, Any], then_requires: list[str] | None = None
) -> dict[str, Any]:
    then_schema: dict[str, Any] = {"properties": then}
    if then_requires:
        then_schema["required"] = then_requires
    return {"if": {"properties": condition}, "then": then_schema, "else": {"properties": otherwise}}


# ---------------------------------------------------------------------------------------------------------
# The model card


class InputCard(TypedDict):
    name: str
    shape: list[int]
    dtype: str
    range: list[float]


class OutputCard(TypedDict):
    node: str
    shape: list[int]
    meaning: str


class ModelCard(TypedDict):
    """metadata.json. The policy keys are VerdictPolicy's fields; `verdict_log_schema` names the schema file."""

    name: str
    version: str
    created: str
    architecture: str
    format: str
    input: InputCard
    outputs: dict[str, OutputCard]
    preprocessing: dict[str, Any]
    face_detector: dict[str, str]
    threshold: float
    uncertain_band: list[float]
    min_face_crop_px: int
    min_picture_side_px: int
    min_pixel_spread: float
    video_flagged_percent: int
    verdict_log_schema: str
    classes: dict[str, str]
    calibration: dict[str, Any]
    training: dict[str, Any]
    training_data: dict[str, Any]
    training_summary: str
    metrics: dict[str, Any]
    operating_point: dict[str, Any]
    limitations: list[str]
    files: dict[str, str]
