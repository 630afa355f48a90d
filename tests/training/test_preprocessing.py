"""training.preprocessing: how any image file becomes the 128x128x3 model input (the browser mirrors it)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from unmask.training.preprocessing import INPUT_SIZE, ImageDecodeError, open_rgb, preprocess


def halves(width: int, height: int, left=(255, 0, 0), right=(0, 0, 255)) -> Image.Image:
    image = Image.new("RGB", (width, height), right)
    image.paste(left, (0, 0, width // 2, height))
    return image


def test_output_is_128x128x3_float32_in_unit_range(encode_image) -> None:
    pixels = np.random.default_rng(1).integers(0, 256, (100, 150, 3), dtype=np.uint8)
    out = preprocess(encode_image(Image.fromarray(pixels), "PNG"))
    assert out.shape == (INPUT_SIZE, INPUT_SIZE, 3)
    assert out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert out.max() > 0.9 and out.min() < 0.1  # really scaled by 1/255, not left in 0..255 or squashed


def test_equals_pillow_bilinear_resize_of_centre_square_over_255(encode_image) -> None:
    pixels = np.random.default_rng(2).integers(0, 256, (301, 517, 3), dtype=np.uint8)
    image = Image.fromarray(pixels)
    side = 301
    left = (517 - side) / 2
    expected = (
        np.asarray(
            image.resize((INPUT_SIZE, INPUT_SIZE), Image.Resampling.BILINEAR, box=(left, 0, left + side, side)),
            dtype=np.float32,
        )
        / 255
    )
    np.testing.assert_array_equal(preprocess(encode_image(image, "PNG")), expected)


def test_a_face_box_is_what_gets_resized(encode_image) -> None:
    pixels = np.random.default_rng(3).integers(0, 256, (400, 600, 3), dtype=np.uint8)
    image = Image.fromarray(pixels)
    box = (350.5, 120.25, 550.5, 320.25)
    expected = (
        np.asarray(image.resize((INPUT_SIZE, INPUT_SIZE), Image.Resampling.BILINEAR, box=box), dtype=np.float32) / 255
    )
    np.testing.assert_array_equal(preprocess(encode_image(image, "PNG"), box=box), expected)
    assert not np.array_equal(preprocess(encode_image(image, "PNG")), expected)


def test_no_box_is_the_centre_square(encode_image) -> None:
    image = Image.fromarray(np.random.default_rng(4).integers(0, 256, (200, 300, 3), dtype=np.uint8))
    np.testing.assert_array_equal(preprocess(image), preprocess(image, box=(50, 0, 250, 200)))


def test_wide_image_is_cropped_to_its_middle(encode_image) -> None:
    # Left quarter red, middle half green, right quarter blue: the centre square of 400x200 is the green part.
    image = Image.new("RGB", (400, 200), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 100, 200))
    image.paste((0, 255, 0), (100, 0, 300, 200))
    out = preprocess(encode_image(image, "PNG"))
    # The filter reaches a pixel past the box edge (Pillow's box semantics), so only the border may bleed.
    np.testing.assert_array_equal(out[:, 2:-2], np.broadcast_to([0, 1, 0], (INPUT_SIZE, INPUT_SIZE - 4, 3)))


def test_tall_image_is_cropped_to_its_middle(encode_image) -> None:
    image = Image.new("RGB", (100, 300), (255, 0, 0))
    image.paste((0, 255, 0), (0, 100, 100, 200))
    out = preprocess(encode_image(image, "PNG"))
    np.testing.assert_array_equal(out[2:-2], np.broadcast_to([0, 1, 0], (INPUT_SIZE - 4, INPUT_SIZE, 3)))


def test_exif_orientation_is_applied(encode_image) -> None:
    # Stored 40x20 with the left half red; Orientation 6 (rotate 90 clockwise to view) puts that half on top.
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode_image(halves(40, 20), "JPEG", quality=95, exif=exif.tobytes())
    upright = np.asarray(open_rgb(data), dtype=int)
    assert upright.shape == (40, 20, 3)
    assert np.abs(upright[:15].mean(axis=(0, 1)) - [255, 0, 0]).max() < 10
    assert np.abs(upright[25:].mean(axis=(0, 1)) - [0, 0, 255]).max() < 10


def test_greyscale_is_replicated_to_rgb(encode_image) -> None:
    out = np.asarray(open_rgb(encode_image(Image.new("L", (8, 8), 100), "PNG")))
    assert out.shape == (8, 8, 3)
    assert (out == 100).all()


def test_cmyk_jpeg_is_converted_to_rgb(encode_image) -> None:
    cyan = np.asarray(open_rgb(encode_image(Image.new("CMYK", (16, 16), (255, 0, 0, 0)), "JPEG", quality=95)))
    white = np.asarray(open_rgb(encode_image(Image.new("CMYK", (16, 16), (0, 0, 0, 0)), "JPEG", quality=95)))
    assert np.abs(cyan.astype(int) - [0, 255, 255]).max() <= 3
    assert np.abs(white.astype(int) - [255, 255, 255]).max() <= 3


def test_16_bit_png_keeps_the_high_byte_instead_of_clipping(encode_image) -> None:
    values = np.array([[0xFF00, 0x8000, 0x00FF, 0xFFFF, 0x0000]] * 3, dtype=np.uint16)
    data = encode_image(Image.fromarray(values), "PNG")
    out = np.asarray(open_rgb(data))
    np.testing.assert_array_equal(out[0, :, 0], [255, 128, 0, 255, 0])
    assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()


def test_rgba_is_composited_over_white(encode_image) -> None:
    out = np.asarray(open_rgb(encode_image(Image.new("RGBA", (8, 8), (255, 0, 0, 128)), "PNG")), dtype=int)
    # Half-transparent red over white is pink, not red (alpha dropped) and not dark (composited over black).
    assert np.abs(out[0, 0] - [255, 127, 127]).max() <= 1


def test_fully_transparent_greyscale_alpha_becomes_white(encode_image) -> None:
    out = np.asarray(open_rgb(encode_image(Image.new("LA", (8, 8), (0, 0)), "PNG")))
    assert (out == 255).all()


@pytest.mark.parametrize("format_name", ["PNG", "GIF"])
def test_palette_transparency_is_composited_over_white(encode_image, format_name) -> None:
    image = Image.new("P", (8, 8), 0)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    image.putpixel((0, 0), 1)
    out = np.asarray(open_rgb(encode_image(image, format_name, transparency=0)))
    np.testing.assert_array_equal(out[0, 0], [255, 0, 0])
    np.testing.assert_array_equal(out[0, 1], [255, 255, 255])  # the transparent black index


def test_animated_gif_uses_its_first_frame(encode_image) -> None:
    first, second = Image.new("RGB", (8, 8), (255, 0, 0)), Image.new("RGB", (8, 8), (0, 0, 255))
    data = encode_image(first, "GIF", save_all=True, append_images=[second])
    np.testing.assert_array_equal(np.asarray(open_rgb(data))[0, 0], [255, 0, 0])


@pytest.mark.parametrize("format_name, options", [("WEBP", {"lossless": True}), ("BMP", {})])
def test_webp_and_bmp_decode(encode_image, format_name, options) -> None:
    pixels = np.random.default_rng(3).integers(0, 256, (12, 10, 3), dtype=np.uint8)
    out = np.asarray(open_rgb(encode_image(Image.fromarray(pixels), format_name, **options)))
    np.testing.assert_array_equal(out, pixels)


def test_decoding_a_path_matches_decoding_its_bytes(tmp_path, encode_image) -> None:
    data = encode_image(halves(30, 20), "PNG")
    (tmp_path / "a.png").write_bytes(data)
    np.testing.assert_array_equal(preprocess(tmp_path / "a.png"), preprocess(data))


def _png(encode_image) -> bytes:
    pixels = np.random.default_rng(4).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    return encode_image(Image.fromarray(pixels), "PNG")


def _jpeg(encode_image) -> bytes:
    pixels = np.random.default_rng(5).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    return encode_image(Image.fromarray(pixels), "JPEG")


def _corrupt(data: bytes) -> bytes:
    broken = bytearray(data)
    for index in range(100, 200):
        broken[index] ^= 0xFF
    return bytes(broken)


@pytest.mark.parametrize(
    "make_bytes",
    [
        pytest.param(lambda enc: b"", id="empty"),
        pytest.param(lambda enc: b"just some notes, saved as photo.jpg\n" * 20, id="text"),
        pytest.param(lambda enc: b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n", id="pdf"),
        pytest.param(lambda enc: _png(enc)[: len(_png(enc)) // 2], id="truncated-png"),
        pytest.param(lambda enc: _jpeg(enc)[: len(_jpeg(enc)) // 2], id="truncated-jpeg"),
        pytest.param(lambda enc: _corrupt(_png(enc)), id="corrupt-png"),
    ],
)
def test_unreadable_input_raises_image_decode_error_with_a_message(encode_image, make_bytes) -> None:
    with pytest.raises(ImageDecodeError, match=r"cannot decode image: \S"):
        preprocess(make_bytes(encode_image))


def test_unreadable_file_on_disk_raises_image_decode_error(tmp_path) -> None:
    path = tmp_path / "report.jpg"
    path.write_bytes(b"%PDF-1.4\n%%EOF\n")
    with pytest.raises(ImageDecodeError):
        preprocess(path)
