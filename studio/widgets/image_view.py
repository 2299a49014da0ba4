"""Image views: numpy uint8 RGB shown crisp (nearest) at any size, values under the cursor."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QSizePolicy, QWidget


def to_qimage(rgb: np.ndarray) -> QImage:
    """(H, W, 3) uint8 to a QImage that owns its pixels."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w, _ = rgb.shape
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


class ImageView(QWidget):
    """A picture with an optional caption, fitted keeping its aspect: enlarged with nearest
    neighbour, reduced smoothly.

    Emits ``hovered(x, y, text)`` with the pixel under the cursor, and ``clicked()``.
    """

    clicked = Signal()
    hovered = Signal(str)

    def __init__(self, minimum: int = 64, caption: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self._image: np.ndarray | None = None
        self._pixmap: QPixmap | None = None
        self.caption = caption
        self.placeholder = ""
        self.highlight = False
        self.setMinimumSize(minimum, minimum)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMouseTracking(True)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt override)
        return QSize(160, 160)

    def set_image(self, rgb: np.ndarray | None) -> None:
        self._image = None if rgb is None else np.ascontiguousarray(rgb)
        self._pixmap = None if rgb is None else QPixmap.fromImage(to_qimage(rgb))
        self.update()

    def image(self) -> np.ndarray | None:
        return self._image

    def _target(self) -> QRect:
        """Where the picture goes: as large as fits, keeping its aspect (square when empty)."""
        avail_w = max(self.width() - 4, 8)
        avail_h = max(self.height() - (16 if self.caption else 0) - 4, 8)
        aspect = 1.0
        if self._image is not None and self._image.shape[0] > 0:
            aspect = self._image.shape[1] / self._image.shape[0]
        w = min(avail_w, avail_h * aspect)
        h = max(int(w / aspect), 8)
        w = max(int(w), 8)
        return QRect((self.width() - w) // 2, 2, w, h)

    def paintEvent(self, _event) -> None:  # noqa: N802 (Qt override)
        p = QPainter(self)
        r = self._target()
        p.fillRect(r, QColor("#fafafa"))
        if self._pixmap is not None:
            # Enlarged pictures keep their pixels sharp; a photo drawn smaller is filtered.
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform,
                            r.width() < self._pixmap.width())
            p.drawPixmap(r, self._pixmap)
        elif self.placeholder:
            p.setPen(QColor("#888"))
            p.drawText(r, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                       self.placeholder)
        pen = QPen(QColor("#1a73e8") if self.highlight else QColor("#c8c8c8"),
                   3 if self.highlight else 1)
        p.setPen(pen)
        p.drawRect(r.adjusted(0, 0, -1, -1))
        if self.caption:
            p.setPen(QColor("#333"))
            p.drawText(QRect(0, r.bottom() + 1, self.width(), 16),
                       Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop, self.caption)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        if event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        if self._image is None:
            return
        px = self.pixel_at(event.position().toPoint())
        if px is not None:
            x, y = px
            v = self._image[y, x]
            self.hovered.emit(f"x {x}, y {y}: RGB {int(v[0])}, {int(v[1])}, {int(v[2])}")

    def pixel_at(self, pos: QPoint) -> tuple[int, int] | None:
        """Image pixel (x, y) under a widget position, or None outside the picture."""
        if self._image is None:
            return None
        r = self._target()
        if not r.contains(pos):
            return None
        h, w = self._image.shape[:2]
        x = min(w - 1, (pos.x() - r.left()) * w // r.width())
        y = min(h - 1, (pos.y() - r.top()) * h // r.height())
        return int(x), int(y)
