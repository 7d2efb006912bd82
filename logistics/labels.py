"""Batch labels: one 60 × 40 mm page per label, for the warehouse's thermal label printer.

Chinese text uses reportlab's built-in CID font STSong-Light (the PDF viewer or printer supplies
the glyphs), so no font file has to ship with the project. The QR code is vector, made by
reportlab itself, and holds the batch's absolute traceability address.
"""

from collections.abc import Iterable
from io import BytesIO

from reportlab.graphics import renderPDF
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

from .models import Batch
from .receiving import batch_trace_url

LABEL_WIDTH = 60 * mm
LABEL_HEIGHT = 40 * mm
FONT = "STSong-Light"
MARGIN = 2 * mm
QR_SIZE = 23 * mm
MAX_COPIES = 50
MAX_PAGES = 2000

_font_registered = False


def _register_font() -> None:
    global _font_registered
    if not _font_registered:
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))
        _font_registered = True


def _fit(text: str, width: float, size: float) -> str:
    """Cut text to the width, with an ellipsis, rather than letting it run off the label."""
    if pdfmetrics.stringWidth(text, FONT, size) <= width:
        return text
    while text and pdfmetrics.stringWidth(text + "…", FONT, size) > width:
        text = text[:-1]
    return text + "…"


def _quantity(batch: Batch) -> str:
    if batch.weight is not None:
        return f"重量 {batch.weight.normalize():f} 斤"
    return f"数量 {batch.quantity.normalize():f} {batch.product.get_unit_display()}"


def _draw_label(pdf: canvas.Canvas, batch: Batch) -> None:
    product = batch.product
    supplier = batch.receipt.supplier
    text_width = LABEL_WIDTH - QR_SIZE - 2 * MARGIN - 1 * mm

    # Name across the full width, larger; the details in a column left of the QR code.
    pdf.setFont(FONT, 10)
    pdf.drawString(MARGIN, LABEL_HEIGHT - MARGIN - 9, _fit(product.name, LABEL_WIDTH - 2 * MARGIN, 10))
    rows = [
        f"规格 {product.spec}" if product.spec else f"单位 {product.get_unit_display()}",
        f"批次 {batch.code}",
        _quantity(batch),
        f"生产 {batch.production_date.isoformat()}" if batch.production_date else "生产 —",
        f"保质期至 {batch.expiry_date.isoformat()}" if batch.expiry_date else "保质期至 —",
        f"供应商 {supplier.name}" if supplier else "供应商 —",
    ]
    size, leading = 7, 8.4
    pdf.setFont(FONT, size)
    y = LABEL_HEIGHT - MARGIN - 9 - 4.5 * mm
    for row in rows:
        pdf.drawString(MARGIN, y, _fit(row, text_width, size))
        y -= leading

    widget = QrCodeWidget(batch_trace_url(batch.code), barLevel="M")
    x0, y0, x1, y1 = widget.getBounds()
    drawing = Drawing(QR_SIZE, QR_SIZE, transform=[QR_SIZE / (x1 - x0), 0, 0, QR_SIZE / (y1 - y0), 0, 0])
    drawing.add(widget)
    # The widget draws its own quiet zone; the caption sits under the code, inside the margin.
    renderPDF.draw(drawing, pdf, LABEL_WIDTH - MARGIN - QR_SIZE + 1 * mm, MARGIN + 1.2 * mm)
    pdf.setFont(FONT, 5)
    pdf.drawCentredString(LABEL_WIDTH - MARGIN - QR_SIZE / 2 + 1 * mm, MARGIN, "扫码溯源")


def labels_pdf(batches: Iterable[Batch], *, copies: int = 1) -> bytes:
    """One page per batch (times `copies`), each batch with its product and receipt's supplier
    already loaded (see `receiving.receipt_batches`)."""
    if not 1 <= copies <= MAX_COPIES:
        raise ValueError(f"copies must be between 1 and {MAX_COPIES}")
    batches = list(batches)
    if len(batches) * copies > MAX_PAGES:
        raise ValueError("too many labels for one PDF")
    _register_font()
    buffer = BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=(LABEL_WIDTH, LABEL_HEIGHT), pageCompression=1)
    pdf.setTitle("批次标签")
    pdf.setCreator("seafood_b2b")
    for batch in batches:
        for _ in range(copies):
            _draw_label(pdf, batch)
            pdf.showPage()
    if not batches:
        pdf.showPage()  # a valid, empty PDF rather than a broken file
    pdf.save()
    return buffer.getvalue()
