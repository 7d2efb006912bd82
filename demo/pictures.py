"""Seeding step for product pictures: a drawn picture per aisle, shelf and kind of product.

Every aisle has its colours and its subject (a shrimp, a fish, a scallop, a crab, a squid, hotpot
balls, a bag of dried goods, a dish, a fish on ice); every kind of product on a shelf ("去皮虾仁",
"巴沙鱼柳") gets its own variant of it (shades, bubbles, facing left or right) with its name written underneath. The
products of one kind share the file — a wholesaler's catalogue photo is of the kind, not of the
brand's pack — so 3,000 SKUs need a few hundred pictures: a second or two, not a minute.

The name needs a CJK font: the usual ones on Debian (fonts-wqy-microhei, Noto CJK), macOS and
Windows are tried; without one the picture has no caption (Pillow's own font has no Chinese).
"""

import hashlib
import math
import os
import random
from collections import defaultdict
from functools import cache

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image, ImageDraw, ImageFont

from catalog.models import Category, Product
from catalog.pictures import THUMBNAIL_SIZE, jpeg_bytes

from .base import DemoPlan, StepResult
from .catalog_data import AISLES

SIZE = 320  # the stored picture (the product page shows it 375×220, cropped)
DRAW = 2  # drawn at twice the size, then scaled down: smooth edges without anti-aliased primitives
FOLDER = "products/demo"
FONT_PATHS = (
    os.environ.get("DEMO_CJK_FONT", ""),
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/System/Library/Fonts/PingFang.ttc",
    "/System/Library/Fonts/STHeiti Light.ttc",
    "C:/Windows/Fonts/msyh.ttc",
    "C:/Windows/Fonts/simhei.ttf",
)

# Per aisle (in AISLES order): background, subject colour, accent, and what is drawn.
PALETTES = (
    ((255, 236, 224), (240, 110, 70), (255, 190, 150), "shrimp"),
    ((222, 238, 252), (70, 120, 180), (160, 200, 235), "fish"),
    ((250, 240, 220), (225, 160, 90), (250, 210, 160), "shell"),
    ((255, 230, 228), (205, 60, 50), (245, 150, 130), "crab"),
    ((238, 230, 248), (150, 100, 180), (210, 180, 235), "squid"),
    ((255, 244, 214), (240, 170, 40), (255, 225, 150), "balls"),
    ((244, 234, 220), (160, 110, 60), (215, 180, 135), "dried"),
    ((228, 244, 228), (80, 150, 80), (250, 200, 90), "dish"),
    ((220, 246, 246), (40, 150, 160), (255, 255, 255), "iced"),
)


@cache
def cjk_font(size: int) -> ImageFont.FreeTypeFont | None:
    for path in FONT_PATHS:
        if path and os.path.exists(path):
            try:
                return ImageFont.truetype(path, size)
            except OSError:
                continue
    return None


def _shade(colour, amount: float):
    """Lighter (amount > 0) or darker (< 0), keeping the hue."""
    target = 255 if amount > 0 else 0
    return tuple(round(c + (target - c) * abs(amount)) for c in colour)


def _ellipse(draw, cx, cy, rx, ry, fill):
    draw.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=fill)


def _shrimp(draw, s, ink, accent, rng):
    # A curled body of shrinking segments along an arc, a fanned tail and two feelers.
    cx, cy, radius = 0.5 * s, 0.45 * s, 0.2 * s
    for k in range(8):
        angle = math.radians(200 - k * 26)
        x, y = cx + radius * math.cos(angle), cy - radius * math.sin(angle)
        size = 0.09 * s * (1 - k * 0.07)
        _ellipse(draw, x, y, size, size * 0.9, _shade(ink, 0.12 * (k % 2)))
    end = math.radians(200 - 7 * 26)  # the last segment: the tail fans out below it
    tx, ty = cx + radius * math.cos(end), cy - radius * math.sin(end)
    draw.polygon([(tx, ty), (tx - 0.07 * s, ty + 0.12 * s), (tx + 0.07 * s, ty + 0.1 * s)], fill=accent)
    hx, hy = cx + radius * math.cos(math.radians(200)), cy - radius * math.sin(math.radians(200))
    for bend in (-0.12, -0.2):
        draw.line([(hx, hy), (hx - 0.12 * s, hy + bend * s), (hx - 0.2 * s, hy + (bend - 0.05) * s)],
                  fill=ink, width=max(2, int(0.012 * s)))
    _ellipse(draw, hx + 0.02 * s, hy - 0.02 * s, 0.015 * s, 0.015 * s, (40, 40, 40))


def _fish(draw, s, ink, accent, rng, cy=0.45):
    cx, cy = 0.46 * s, cy * s
    draw.polygon([(cx + 0.22 * s, cy), (cx + 0.38 * s, cy - 0.13 * s), (cx + 0.38 * s, cy + 0.13 * s)], fill=ink)
    draw.polygon([(cx - 0.05 * s, cy - 0.12 * s), (cx + 0.1 * s, cy - 0.2 * s), (cx + 0.12 * s, cy - 0.1 * s)],
                 fill=accent)
    _ellipse(draw, cx, cy, 0.27 * s, 0.13 * s, ink)
    _ellipse(draw, cx + 0.02 * s, cy + 0.04 * s, 0.2 * s, 0.06 * s, _shade(ink, 0.35))
    _ellipse(draw, cx - 0.17 * s, cy - 0.03 * s, 0.025 * s, 0.025 * s, (255, 255, 255))
    _ellipse(draw, cx - 0.17 * s, cy - 0.03 * s, 0.012 * s, 0.012 * s, (30, 30, 30))
    draw.arc((cx - 0.16 * s, cy - 0.1 * s, cx - 0.04 * s, cy + 0.1 * s), 300, 60, fill=_shade(ink, -0.25),
             width=max(2, int(0.01 * s)))


def _shell(draw, s, ink, accent, rng):
    cx, cy, r = 0.5 * s, 0.58 * s, 0.3 * s
    draw.pieslice((cx - r, cy - r, cx + r, cy + r), 200, 340, fill=ink)
    for k in range(7):
        angle = math.radians(205 + k * 21.5)
        draw.line([(cx, cy), (cx + r * math.cos(angle), cy + r * math.sin(angle))], fill=accent,
                  width=max(2, int(0.012 * s)))
    draw.polygon([(cx - 0.08 * s, cy), (cx + 0.08 * s, cy), (cx + 0.05 * s, cy + 0.07 * s),
                  (cx - 0.05 * s, cy + 0.07 * s)], fill=_shade(ink, -0.15))


def _crab(draw, s, ink, accent, rng):
    cx, cy = 0.5 * s, 0.48 * s
    width = max(3, int(0.018 * s))
    for side in (-1, 1):
        for k in range(3):
            x0, y0 = cx + side * 0.14 * s, cy + (k - 1) * 0.05 * s
            draw.line([(x0, y0), (x0 + side * 0.12 * s, y0 - 0.03 * s), (x0 + side * 0.18 * s, y0 + 0.06 * s)],
                      fill=ink, width=width)
        claw_x = cx + side * 0.2 * s
        draw.line([(cx + side * 0.08 * s, cy - 0.08 * s), (claw_x, cy - 0.18 * s)], fill=ink, width=width)
        draw.pieslice((claw_x - 0.06 * s, cy - 0.26 * s, claw_x + 0.06 * s, cy - 0.14 * s), 0 if side > 0 else 180,
                      300 if side > 0 else 120, fill=ink)
    _ellipse(draw, cx, cy, 0.18 * s, 0.12 * s, ink)
    _ellipse(draw, cx, cy - 0.03 * s, 0.12 * s, 0.05 * s, accent)
    for side in (-1, 1):
        _ellipse(draw, cx + side * 0.05 * s, cy - 0.12 * s, 0.015 * s, 0.015 * s, (30, 30, 30))


def _squid(draw, s, ink, accent, rng):
    cx = 0.5 * s
    draw.polygon([(cx, 0.1 * s), (cx - 0.14 * s, 0.22 * s), (cx + 0.14 * s, 0.22 * s)], fill=accent)
    _ellipse(draw, cx, 0.34 * s, 0.11 * s, 0.17 * s, ink)
    width = max(3, int(0.016 * s))
    for k in range(6):
        x = cx + (k - 2.5) * 0.04 * s
        points = [(x + 0.025 * s * math.sin(t / 2 + k), 0.48 * s + t * 0.03 * s) for t in range(8)]
        draw.line(points, fill=ink, width=width)
    for side in (-1, 1):
        _ellipse(draw, cx + side * 0.05 * s, 0.42 * s, 0.02 * s, 0.02 * s, (255, 255, 255))


def _balls(draw, s, ink, accent, rng):
    cx, cy = 0.5 * s, 0.5 * s
    draw.chord((cx - 0.3 * s, cy - 0.22 * s, cx + 0.3 * s, cy + 0.22 * s), 0, 180, fill=_shade(ink, -0.2))
    for x, y in ((-0.14, 0.0), (0.0, -0.04), (0.14, 0.0), (-0.07, -0.12), (0.08, -0.13)):
        _ellipse(draw, cx + x * s, cy + y * s, 0.08 * s, 0.08 * s, accent)
        _ellipse(draw, cx + (x - 0.025) * s, cy + (y - 0.025) * s, 0.02 * s, 0.02 * s, (255, 255, 255))


def _dried(draw, s, ink, accent, rng):
    cx = 0.5 * s
    draw.rounded_rectangle((cx - 0.2 * s, 0.18 * s, cx + 0.2 * s, 0.66 * s), radius=int(0.05 * s), fill=ink)
    draw.rectangle((cx - 0.2 * s, 0.24 * s, cx + 0.2 * s, 0.27 * s), fill=accent)
    draw.rounded_rectangle((cx - 0.12 * s, 0.34 * s, cx + 0.12 * s, 0.56 * s), radius=int(0.03 * s),
                           fill=_shade(accent, 0.5))
    for k in range(5):
        x, y = cx + (k % 3 - 1) * 0.06 * s, 0.41 * s + (k // 3) * 0.07 * s
        draw.arc((x - 0.03 * s, y - 0.03 * s, x + 0.03 * s, y + 0.03 * s), 20, 300, fill=(220, 110, 70),
                 width=max(2, int(0.014 * s)))


def _dish(draw, s, ink, accent, rng):
    cx, cy = 0.5 * s, 0.46 * s
    _ellipse(draw, cx, cy, 0.3 * s, 0.2 * s, (255, 255, 255))
    _ellipse(draw, cx, cy, 0.24 * s, 0.15 * s, _shade(ink, 0.75))
    for k in range(5):
        angle = k * 2 * math.pi / 5 + rng.random()
        x, y = cx + 0.12 * s * math.cos(angle), cy + 0.07 * s * math.sin(angle)
        _ellipse(draw, x, y, 0.06 * s, 0.04 * s, accent)
    _ellipse(draw, cx, cy, 0.04 * s, 0.03 * s, ink)


def _iced(draw, s, ink, accent, rng):
    for k in range(7):
        x, y = (0.12 + k * 0.12) * s, (0.62 + 0.04 * (k % 2)) * s
        draw.rounded_rectangle((x - 0.06 * s, y - 0.05 * s, x + 0.06 * s, y + 0.05 * s), radius=int(0.015 * s),
                               fill=(235, 250, 255), outline=(170, 215, 230), width=max(1, int(0.006 * s)))
    _fish(draw, s, ink, (120, 200, 210), rng, cy=0.42)


SUBJECTS = {"shrimp": _shrimp, "fish": _fish, "shell": _shell, "crab": _crab, "squid": _squid, "balls": _balls,
            "dried": _dried, "dish": _dish, "iced": _iced}


def picture_draw(*, aisle_index: int, caption: str, variant: str) -> Image.Image:
    """The SIZE×SIZE picture: the aisle's subject in a variant picked by `variant`, and the caption."""
    background, ink, accent, subject = PALETTES[aisle_index % len(PALETTES)]
    rng = random.Random(variant)
    s = SIZE * DRAW
    ink = _shade(ink, rng.uniform(-0.2, 0.15))
    canvas = Image.new("RGB", (s, s), _shade(background, rng.uniform(-0.05, 0.3)))
    draw = ImageDraw.Draw(canvas)
    for _ in range(3):  # bubbles
        x, y, r = rng.uniform(0.05, 0.95) * s, rng.uniform(0.05, 0.6) * s, rng.uniform(0.015, 0.04) * s
        _ellipse(draw, x, y, r, r, _shade(background, 0.5))
    SUBJECTS[subject](draw, s, ink, accent, rng)
    if rng.random() < 0.5:  # facing the other way (drawn straight on the canvas: a tilted layer cost 4× the rest)
        canvas = canvas.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        draw = ImageDraw.Draw(canvas)
    font = cjk_font(int(0.11 * s)) if caption else None
    if font is not None:
        draw.rounded_rectangle((0.08 * s, 0.76 * s, 0.92 * s, 0.93 * s), radius=int(0.04 * s), fill=(255, 255, 255))
        text = caption if len(caption) <= 6 else caption[:6]
        draw.text((s / 2, 0.845 * s), text, font=font, fill=_shade(ink, -0.3), anchor="mm")
    return canvas.reduce(DRAW)  # a box filter: what the 2× drawing is for, at a fraction of LANCZOS's cost


def shelf_subjects() -> dict[tuple[str, str], tuple[int, list[str]]]:
    """(aisle, shelf) → (aisle index, the kinds of product on it, longest first)."""
    return {
        (aisle, shelf): (aisle_index, sorted({form for species in kinds for form in species.forms}, key=len,
                                             reverse=True))
        for aisle_index, (aisle, _storage, shelves) in enumerate(AISLES)
        for shelf, kinds in shelves
    }


def picture_subject(*, forms: list[str], shelf: str, name: str) -> str:
    """The kind of product a demo name is of ("国联 去皮虾仁 大号 1kg/袋" → "去皮虾仁"); the shelf if none."""
    return next((form for form in forms if form in name), shelf.split("/")[0])


def _paths(aisle: str, shelf: str, caption: str) -> tuple[str, str]:
    key = hashlib.sha1(f"{aisle}/{shelf}/{caption}".encode()).hexdigest()[:12]
    return f"{FOLDER}/{key}.jpg", f"{FOLDER}/thumbs/{key}.jpg"


def product_pictures_seed(plan: DemoPlan) -> StepResult:
    """Pictures for the demo products that have none (so a database seeded before pictures gets them too)."""
    subjects = shelf_subjects()
    shelves = {
        category.pk: (category.parent.name, category.name)
        for category in Category.objects.filter(parent__isnull=False).select_related("parent")
    }
    groups: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    rows = Product.objects.filter(image="").values_list("pk", "name", "category_id")
    existing = Product.objects.exclude(image="").count()
    for pk, name, category_id in rows.iterator(chunk_size=2000):
        aisle_shelf = shelves.get(category_id)
        if aisle_shelf not in subjects:
            continue  # not a demo shelf: leave it to the admin
        caption = picture_subject(forms=subjects[aisle_shelf][1], shelf=aisle_shelf[1], name=name)
        groups[(*aisle_shelf, caption)].append(pk)
    created = 0
    with plan.progress_bar(total=len(groups), desc="商品图片") as bar:
        for (aisle, shelf, caption), ids in groups.items():
            image_path, thumbnail_path = _paths(aisle, shelf, caption)
            if not (default_storage.exists(image_path) and default_storage.exists(thumbnail_path)):
                picture = picture_draw(aisle_index=subjects[(aisle, shelf)][0], caption=caption,
                                       variant=f"{plan.seed}:{aisle}/{shelf}/{caption}")
                image_path = _write(image_path, jpeg_bytes(picture))
                # SIZE is twice the thumbnail's: a box reduction, faster than thumbnail_of's LANCZOS.
                thumbnail_path = _write(thumbnail_path, jpeg_bytes(picture.reduce(SIZE // THUMBNAIL_SIZE[0])))
            created += Product.objects.filter(pk__in=ids, image="").update(image=image_path, thumbnail=thumbnail_path)
            bar.update(1)
    return StepResult("商品图片", created, existing)


def _write(path: str, data: bytes) -> str:
    """Save under `path` unless a file is already there (the same drawing: kept as it is)."""
    if default_storage.exists(path):
        return path
    return default_storage.save(path, ContentFile(data))
