"""Customers' after-sales photos: a real image (decoded in full), JPEG/PNG/WebP, within a size
and dimension limit, stored only as our own re-encoding (EXIF and any other metadata dropped,
the picture turned upright first so nothing looks sideways once its orientation tag is gone).
"""

from dataclasses import dataclass
from io import BytesIO

from django.core.files.base import ContentFile

from core.errors import ValidationFailed
from core.inputs import body_size_check

MAX_PHOTOS = 6
MAX_PHOTO_BYTES = 5 * 1024 * 1024
MAX_PHOTO_SIDE = 6000  # pixels, either side
MAX_PHOTO_PIXELS = 30_000_000
ALLOWED_FORMATS = {"JPEG": "jpg", "MPO": "jpg", "PNG": "png", "WEBP": "webp"}
# Six photos at the limit and the form's text: a body beyond this is refused before it is read.
MAX_BODY_BYTES = MAX_PHOTOS * MAX_PHOTO_BYTES + 256 * 1024


@dataclass(frozen=True)
class CleanPhoto:
    content: ContentFile
    width: int
    height: int


class PhotoInvalid(ValidationFailed):
    code = "photo_invalid"
    default_message = "上传的文件不是有效的图片"


def photos_body_check(request) -> None:
    """A form with photos (after-sales requests, complaints) whose body is larger than the photos
    it may carry is refused before it is read (core.inputs.body_size_check)."""
    body_size_check(request, max_bytes=MAX_BODY_BYTES, error=PhotoInvalid, code="photo_too_large",
                    message=f"照片总大小超过限制（最多 {MAX_PHOTOS} 张，每张不超过 {MAX_PHOTO_BYTES // (1024 * 1024)} MB）")


def photo_clean(upload, *, index: int = 0) -> CleanPhoto:
    """Check one uploaded file and return its re-encoded copy; PhotoInvalid (a 400) otherwise."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    label = f"第 {index + 1} 张照片"
    size = getattr(upload, "size", 0) or 0
    if not size:
        raise PhotoInvalid(f"{label}是空文件", details={"photo": index})
    if size > MAX_PHOTO_BYTES:
        raise PhotoInvalid(f"{label}超过 {MAX_PHOTO_BYTES // (1024 * 1024)} MB，请压缩后再传",
                           code="photo_too_large", details={"photo": index, "bytes": size})
    try:
        upload.seek(0)
        with Image.open(upload) as probe:
            image_format = probe.format
            width, height = probe.size
            if image_format not in ALLOWED_FORMATS:
                raise PhotoInvalid(f"{label}须为 JPEG、PNG 或 WebP 格式", details={"photo": index})
            if width > MAX_PHOTO_SIDE or height > MAX_PHOTO_SIDE or width * height > MAX_PHOTO_PIXELS:
                raise PhotoInvalid(f"{label}尺寸过大（最大 {MAX_PHOTO_SIDE}×{MAX_PHOTO_SIDE} 像素）",
                                   code="photo_too_large", details={"photo": index, "width": width,
                                                                    "height": height})
            probe.verify()  # the whole file: a truncated or forged image fails here
        upload.seek(0)
        with Image.open(upload) as image:
            image.load()
            upright = ImageOps.exif_transpose(image)
            has_alpha = upright.mode in ("RGBA", "LA", "P") and image_format != "JPEG"
            clean = upright.convert("RGBA" if has_alpha else "RGB")
    except PhotoInvalid:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise PhotoInvalid(f"{label}不是有效的图片", details={"photo": index})
    finally:
        upload.seek(0)
    buffer = BytesIO()
    if has_alpha:
        clean.save(buffer, "PNG", optimize=True)
        extension = "png"
    else:
        clean.save(buffer, "JPEG", quality=85)
        extension = "jpg"
    return CleanPhoto(content=ContentFile(buffer.getvalue(), name=f"photo.{extension}"),
                      width=clean.width, height=clean.height)


def photos_count_check(*, already: int, sent: int) -> None:
    if already + sent > MAX_PHOTOS:
        raise PhotoInvalid(f"每个售后申请最多 {MAX_PHOTOS} 张照片", code="too_many_photos",
                           details={"allowed": max(MAX_PHOTOS - already, 0), "sent": sent})


def photos_clean(uploads, *, already: int = 0) -> list[CleanPhoto]:
    """All of a request's new photos, or a refusal naming the first bad one: nothing is kept."""
    uploads = list(uploads or [])
    photos_count_check(already=already, sent=len(uploads))
    return [photo_clean(upload, index=index) for index, upload in enumerate(uploads)]
