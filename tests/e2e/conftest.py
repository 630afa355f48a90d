"""End-to-end fixtures: the real server with a fresh instance, headless Debian Chromium, a logged-in page
and the test pictures (helpers in `e2e_support`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from e2e_support import (
    CHROMIUM,
    SHIPPED_MODEL,
    Server,
    launched_chromium,
    log_in,
    running_server,
    smooth_image,
    spread_model,
)
from PIL import Image

from tests.faces_support import with_face
from unmask.training.preprocessing import preprocess


@pytest.fixture(scope="session")
def server(tmp_path_factory) -> Iterator[Server]:
    """The real server with the shipped model."""
    with running_server(tmp_path_factory.mktemp("instance"), SHIPPED_MODEL) as running:
        yield running


@pytest.fixture(scope="session")
def spread_server(tmp_path_factory, images: dict[str, Path]) -> Iterator[Server]:
    """The real server with a model whose probabilities spread on the test pictures (for probability parity)."""
    probe = np.stack([preprocess(path) for path in images.values()])
    model_dir = spread_model(tmp_path_factory.mktemp("spread") / "model", probe)
    with running_server(tmp_path_factory.mktemp("instance-spread"), model_dir) as running:
        yield running


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (or set UNMASK_CHROMIUM)")
    with launched_chromium() as launched:
        yield launched


@pytest.fixture
def context(browser):
    created = browser.new_context()
    yield created
    created.close()


@pytest.fixture
def page(context, server):
    """A page logged in to the analyser (shipped model, wasm backend)."""
    opened = context.new_page()
    log_in(opened, server.url)
    return opened


@pytest.fixture(scope="session")
def images(tmp_path_factory) -> dict[str, Path]:
    """The test pictures, by case: small, large, odd aspect ratios, PNG with alpha, greyscale, JPEG, ...; each
    with a drawn face in its middle (the page judges faces), over photo-like smooth colour."""
    folder = tmp_path_factory.mktemp("images")
    files: dict[str, Path] = {}

    def save(name: str, image: Image.Image, **options) -> None:
        files[name.split(".")[0]] = folder / name
        image.save(folder / name, **options)

    save("small.png", Image.fromarray(with_face(smooth_image(160, 120, 1))))
    save("photo.jpg", Image.fromarray(with_face(smooth_image(640, 480, 2))), quality=92)
    save("large.png", Image.fromarray(with_face(smooth_image(3000, 2000, 3))))
    save("tall.png", Image.fromarray(with_face(smooth_image(301, 1000, 4))))
    save("wide.png", Image.fromarray(with_face(smooth_image(1500, 333, 5))))
    rgba = np.dstack(
        [with_face(smooth_image(400, 300, 6)), np.linspace(0, 255, 400 * 300).reshape(300, 400).astype(np.uint8)]
    )
    save("alpha.png", Image.fromarray(rgba, "RGBA"))
    save("grey.png", Image.fromarray(with_face(smooth_image(350, 350, 7))[:, :, 0], "L"))
    save("odd.webp", Image.fromarray(with_face(smooth_image(257, 223, 8))), lossless=True)
    return files


@pytest.fixture(scope="session")
def provenance_files(tmp_path_factory) -> dict[str, Path]:
    """Pictures that say where they come from, written here: generator PNG chunks, camera EXIF, editor
    EXIF, XMP DigitalSourceType, and one stripped of everything."""
    from provenance_fixtures import write_provenance_files

    return write_provenance_files(tmp_path_factory.mktemp("provenance"))


@pytest.fixture(scope="session")
def c2pa_files(tmp_path_factory) -> dict[str, Path]:
    """A JPEG signed with C2PA Content Credentials by a certificate made here, the same file with one byte
    of its image data changed, one with its manifest corrupted, and a JPEG with a JUMBF segment that is
    not C2PA's."""
    from c2pa_fixtures import corrupt_manifest, sign_file, tamper, with_foreign_app11

    folder = tmp_path_factory.mktemp("c2pa")
    Image.fromarray(with_face(smooth_image(320, 320, 30))).save(folder / "plain.jpg", quality=90)
    sign_file(folder / "plain.jpg", folder / "signed.jpg")
    tamper(folder / "signed.jpg", folder / "tampered.jpg")
    corrupt_manifest(folder / "signed.jpg", folder / "corrupted.jpg")
    with_foreign_app11(folder / "plain.jpg", folder / "foreign.jpg")
    return {name: folder / f"{name}.jpg" for name in ("signed", "tampered", "corrupted", "foreign")}
