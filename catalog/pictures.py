"""Product pictures at the sizes the pages show them.

A product keeps its picture (`image`, as uploaded or drawn) and a 160×160 thumbnail for lists
(`thumbnail`: 72 CSS pixels in the shop and cart, sharp on a 2× phone screen). The thumbnail is
derived here whenever the picture changes (admin upload; the demo seeder writes both at once).
"""

from io import BytesIO

from django.core.files.base import ContentFile
from PIL import Image, ImageOps

from .models import Product

THUMBNAIL_SIZE = (160, 160)
JPEG_OPTIONS = {"format": "JPEG", "quality": 82, "optimize": False, "progressive": False}


def jpeg_bytes(image: Image.Image) -> bytes:
    buffer = BytesIO()
    image.convert("RGB").save(buffer, **JPEG_OPTIONS)
    return buffer.getvalue()


def thumbnail_of(image: Image.Image) -> Image.Image:
    """The centre square, scaled to THUMBNAIL_SIZE (what `object-fit: cover` shows in the list)."""
    return ImageOps.fit(image.convert("RGB"), THUMBNAIL_SIZE, Image.Resampling.LANCZOS)


def product_thumbnail_refresh(*, product: Product) -> None:
    """Derive the thumbnail from the product's picture (or clear it when the picture is gone)."""
    if not product.image:
        if product.thumbnail:
            product.thumbnail = ""
            product.save(update_fields=["thumbnail", "updated_at"])
        return
    product.image.open("rb")
    try:
        with Image.open(product.image) as picture:
            data = jpeg_bytes(thumbnail_of(picture))
    finally:
        product.image.close()
    product.thumbnail.save(f"{product.code}.jpg", ContentFile(data), save=False)
    product.save(update_fields=["thumbnail", "updated_at"])
