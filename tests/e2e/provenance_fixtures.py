"""Test pictures carrying provenance metadata, written with Pillow (and one XMP packet written by hand), so
the tests depend on no downloaded file. Shared by the provenance tests and the reader benchmark."""

from __future__ import annotations

import json
import struct
from pathlib import Path

from e2e_support import smooth_image
from PIL import ExifTags, Image, PngImagePlugin

from tests.faces_support import with_face

SD_PARAMETERS = (
    "portrait of a woman, studio light\nNegative prompt: blurry\n"
    "Steps: 30, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 1234567, Size: 1024x1024, "
    "Model hash: 31e35c80fc, Model: sd_xl_base_1.0, Version: v1.6.0"
)
COMFY_PROMPT = {"3": {"class_type": "KSampler", "inputs": {"seed": 42, "steps": 20}}}
COMFY_WORKFLOW = {"nodes": [{"id": 3, "type": "KSampler"}, {"id": 4, "type": "CheckpointLoaderSimple"}]}
CAMERA = {"make": "Canon", "model": "Canon EOS R5", "lens": "RF24-105mm F4 L IS USM", "software": "Ver.1.0.2"}
CAMERA_TAKEN = "2024:04:30 09:15:00"
# The Eiffel Tower, as degrees, minutes, seconds: it must never leave the device.
GPS = {"latitude": ((48.0, 51.0, 30.0), "N"), "longitude": ((2.0, 17.0, 40.0), "E")}
LATITUDE_SHOWN = "48.85833"
PHONE = {"make": "Apple", "model": "iPhone 15"}
EDITOR = "Adobe Photoshop 25.0 (Windows)"
AI_TOOL = "Adobe Firefly"
XMP_SIGNATURE = b"http://ns.adobe.com/xap/1.0/\x00"
XMP_PACKET = f"""<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
 xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:CreatorTool="{AI_TOOL}">
<Iptc4xmpExt:DigitalSourceType>http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia</Iptc4xmpExt:DigitalSourceType>
</rdf:Description></rdf:RDF></x:xmpmeta>
<?xpacket end="w"?>"""


def _picture(seed: int, size: int = 320) -> Image.Image:
    """A picture with a face to judge: provenance sits beside the model's verdict."""
    return Image.fromarray(with_face(smooth_image(size, size, seed)))


def with_app1_xmp(jpeg: bytes, packet: str) -> bytes:
    """A JPEG with an XMP packet in an APP1 segment right after the start-of-image marker."""
    payload = XMP_SIGNATURE + packet.encode()
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


def write_provenance_files(folder: Path, size: int = 320) -> dict[str, Path]:
    """Writes the cases into `folder`: sd, comfy, camera, phone (AVIF), edited, xmp_ai, stripped."""
    names = ("sd.png", "comfy.png", "camera.jpg", "phone.avif", "edited.jpg", "xmp_ai.jpg", "stripped.png")
    files = {name: folder / name for name in names}

    sd = PngImagePlugin.PngInfo()
    sd.add_text("parameters", SD_PARAMETERS)
    _picture(21, size).save(files["sd.png"], pnginfo=sd)

    comfy = PngImagePlugin.PngInfo()
    comfy.add_text("prompt", json.dumps(COMFY_PROMPT))
    comfy.add_text("workflow", json.dumps(COMFY_WORKFLOW), zip=True)  # a zTXt chunk: inflated in the browser
    _picture(22, size).save(files["comfy.png"], pnginfo=comfy)

    exif = Image.Exif()
    exif[ExifTags.Base.Make] = CAMERA["make"]
    exif[ExifTags.Base.Model] = CAMERA["model"]
    exif[ExifTags.Base.Software] = CAMERA["software"]
    details = exif.get_ifd(ExifTags.IFD.Exif)
    details[ExifTags.Base.DateTimeOriginal] = CAMERA_TAKEN
    details[ExifTags.Base.LensModel] = CAMERA["lens"]
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitude], gps[ExifTags.GPS.GPSLatitudeRef] = GPS["latitude"]
    gps[ExifTags.GPS.GPSLongitude], gps[ExifTags.GPS.GPSLongitudeRef] = GPS["longitude"]
    _picture(23, size).save(files["camera.jpg"], exif=exif, quality=90, comment=b"holiday, day 2")

    phone = Image.Exif()
    phone[ExifTags.Base.Make], phone[ExifTags.Base.Model] = PHONE["make"], PHONE["model"]
    _picture(27, size).save(files["phone.avif"], exif=phone, quality=80)

    edited = Image.Exif()
    edited[ExifTags.Base.Software] = EDITOR
    _picture(24, size).save(files["edited.jpg"], exif=edited, quality=90)

    plain = folder / "plain.jpg"
    _picture(25, size).save(plain, quality=90)
    files["xmp_ai.jpg"].write_bytes(with_app1_xmp(plain.read_bytes(), XMP_PACKET))
    plain.unlink()

    _picture(26, size).save(files["stripped.png"])
    return {name.split(".")[0]: path for name, path in files.items()}
