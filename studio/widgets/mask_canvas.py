"""Painting a mask over a picture, and comparing a picture before and after.

``MaskCanvas`` shows a picture with its mask (1 = repaint) as a red overlay and edits the
mask with a brush, an eraser, a rectangle or a fill; a whole stroke is one edit, announced
when the mouse is released as ``edited(old, new, what)`` (the panel makes it an undo step).
``CompareView`` shows two pictures split at a movable line (a before/after slider).
Both zoom with the mouse wheel about the cursor (up to 32x the fitted size), pan with the
middle button (or Shift + left) dragged, and fit again on a double-click.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QEvent, QPoint, QPointF, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPen, QPixmap, QWheelEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from models.image import masks as mk
from studio.widgets.image_view import to_qimage


def _fit(widget: QWidget, h: int, w: int, bottom: int = 0) -> QRect:
    """The largest rectangle of aspect w:h centred in the widget (less ``bottom`` pixels)."""
    aw, ah = max(widget.width() - 4, 8), max(widget.height() - bottom - 4, 8)
    scale = min(aw / w, ah / h)
    tw, th = max(int(w * scale), 8), max(int(h * scale), 8)
    return QRect((widget.width() - tw) // 2, 2 + (ah - th) // 2, tw, th)


MAX_ZOOM = 32.0


class ZoomPan:
    """Zoom about the cursor and pan for a widget whose picture fills ``_fitted()``."""

    zoom: float = 1.0
    pan: QPointF

    def _init_zoom(self) -> None:
        self.zoom = 1.0
        self.pan = QPointF(0.0, 0.0)
        self._pan_from: QPointF | None = None

    def _fitted(self) -> QRect:
        raise NotImplementedError

    def _target(self) -> QRect:
        r = self._fitted()
        if self.zoom == 1.0 and self.pan.isNull():
            return r
        w, h = r.width() * self.zoom, r.height() * self.zoom
        c = QRectF(r).center() + self.pan
        return QRect(round(c.x() - w / 2), round(c.y() - h / 2), round(w), round(h))

    def fit(self) -> None:
        self.zoom, self.pan = 1.0, QPointF(0.0, 0.0)
        self.update()

    def zoom_at(self, pos: QPointF, factor: float) -> None:
        """Zoom by ``factor`` keeping the picture's point under ``pos`` where it is."""
        new = min(max(self.zoom * factor, 1.0), MAX_ZOOM)
        centre = QRectF(self._fitted()).center()
        self.pan = (pos - centre) - (pos - centre - self.pan) * (new / self.zoom)
        self.zoom = new
        if new == 1.0:
            self.pan = QPointF(0.0, 0.0)
        self.update()

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 (Qt override)
        steps = event.angleDelta().y() / 120.0
        if steps:
            self.zoom_at(event.position(), 1.25 ** steps)

    def mouseDoubleClickEvent(self, _event) -> None:  # noqa: N802 (Qt override)
        self.fit()

    def _panning(self, event: QMouseEvent) -> bool:
        """Handle a pan drag (middle button, or Shift + left); True when it was one."""
        buttons = event.buttons() | event.button()
        wants = bool(buttons & Qt.MouseButton.MiddleButton) or (
            bool(buttons & Qt.MouseButton.LeftButton)
            and bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier))
        if event.type() == QEvent.Type.MouseButtonPress and wants:
            self._pan_from = event.position()
            return True
        if self._pan_from is None:
            return False
        if event.type() == QEvent.Type.MouseButtonRelease:
            self._pan_from = None
            return True
        self.pan += event.position() - self._pan_from
        self._pan_from = event.position()
        self.update()
        return True


def overlay_image(mask: np.ndarray, opacity: float) -> QImage:
    """The mask as a red ARGB picture, alpha = mask * opacity."""
    h, w = mask.shape
    rgba = np.zeros((h, w, 4), np.uint8)
    rgba[..., 0] = 230
    rgba[..., 1] = 40
    rgba[..., 2] = 40
    rgba[..., 3] = (np.clip(mask, 0, 1) * opacity * 255 + 0.5).astype(np.uint8)
    return QImage(rgba.data, w, h, 4 * w, QImage.Format.Format_RGBA8888).copy()


class MaskCanvas(ZoomPan, QWidget):
    """Edits a mask (H, W) float32 over a picture (H, W, 3) uint8 of the same size."""

    edited = Signal(object, object, str)      # old mask, new mask, what was done
    hovered = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._picture: QPixmap | None = None
        self._overlay: QPixmap | None = None
        self.mask: np.ndarray | None = None
        self.tool = "brush"
        self.radius = 4.0
        self.hardness = 0.8
        self.opacity = 0.5
        self.placeholder = ""
        self._before: np.ndarray | None = None      # the mask when the stroke began
        self._last: tuple[float, float] | None = None
        self._anchor: tuple[float, float] | None = None
        self._cursor: QPointF | None = None
        self._init_zoom()
        self.setMinimumSize(160, 160)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMouseTracking(True)
        self.setCursor(Qt.CursorShape.CrossCursor)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt override)
        return QSize(320, 320)

    # -- model ---------------------------------------------------------------------------

    def set_picture(self, rgb: np.ndarray | None) -> None:
        old = None if self._picture is None else (self._picture.width(),
                                                  self._picture.height())
        self._picture = None if rgb is None else QPixmap.fromImage(to_qimage(rgb))
        if rgb is None or old != (rgb.shape[1], rgb.shape[0]):
            self.fit()                  # another picture's size: start fitted
        self.update()

    def set_mask(self, mask: np.ndarray | None) -> None:
        """Show ``mask`` (also ends a stroke in progress without announcing it)."""
        self.mask = None if mask is None else np.asarray(mask, np.float32)
        self._before = None
        self._refresh_overlay()

    def set_opacity(self, opacity: float) -> None:
        self.opacity = float(opacity)
        self._refresh_overlay()

    def _refresh_overlay(self) -> None:
        self._overlay = None if self.mask is None else QPixmap.fromImage(
            overlay_image(self.mask, self.opacity))
        self.update()

    # -- geometry ------------------------------------------------------------------------

    def _fitted(self) -> QRect:
        if self.mask is None:
            return _fit(self, 1, 1)
        h, w = self.mask.shape
        return _fit(self, h, w)

    def to_mask_xy(self, pos: QPointF) -> tuple[float, float]:
        """Mask coordinates (x, y) of a widget position (pixel centres at .0)."""
        r = self._target()
        h, w = self.mask.shape
        return ((pos.x() - r.left()) * w / r.width() - 0.5,
                (pos.y() - r.top()) * h / r.height() - 0.5)

    # -- painting ------------------------------------------------------------------------

    def paintEvent(self, _event) -> None:  # noqa: N802 (Qt override)
        p = QPainter(self)
        r = self._target()
        p.fillRect(r, QColor("#fafafa"))
        if self._picture is not None:
            p.drawPixmap(r, self._picture)
        if self._overlay is not None:
            p.drawPixmap(r, self._overlay)
        if self._picture is None and self.placeholder:
            p.setPen(QColor("#888"))
            p.drawText(r, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                       self.placeholder)
        p.setPen(QPen(QColor("#c8c8c8"), 1))
        p.drawRect(r.adjusted(0, 0, -1, -1))
        if self.mask is None or self._cursor is None:
            return
        scale = r.width() / self.mask.shape[1]
        p.setPen(QPen(QColor("#1a73e8"), 1, Qt.PenStyle.DashLine))
        if self.tool == "rectangle" and self._anchor is not None:
            ax, ay = self._anchor
            a = QPointF(r.left() + (ax + 0.5) * scale, r.top() + (ay + 0.5) * scale)
            p.drawRect(QRectF(a, self._cursor).normalized())
        elif self.tool in ("brush", "eraser"):
            p.drawEllipse(self._cursor, self.radius * scale, self.radius * scale)

    # -- mouse ---------------------------------------------------------------------------

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        if self._panning(event):
            return
        if self.mask is None or event.button() != Qt.MouseButton.LeftButton:
            return
        x, y = self.to_mask_xy(event.position())
        self._before = self.mask.copy()
        if self.tool == "fill":
            new = mk.fill(self.mask, x, y)
            self._finish(new, "Fill")
        elif self.tool == "rectangle":
            self._anchor = (x, y)
        else:
            self._last = (x, y)
            self._stroke_to(x, y)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        self._cursor = event.position()
        if self._panning(event):
            return
        if self.mask is not None:
            x, y = self.to_mask_xy(event.position())
            h, w = self.mask.shape
            if 0 <= x < w and 0 <= y < h:
                self.hovered.emit(f"x {int(round(x))}, y {int(round(y))}: mask "
                                  f"{self.mask[int(round(y)), int(round(x))]:.2f}")
            if self._before is not None and self._last is not None:
                self._stroke_to(x, y)
        self.update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        if self._panning(event):
            return
        if self.mask is None or self._before is None:
            return
        x, y = self.to_mask_xy(event.position())
        if self.tool == "rectangle" and self._anchor is not None:
            ax, ay = self._anchor
            self._anchor = None
            self._finish(mk.rectangle(self._before, ax, ay, x, y), "Rectangle")
        elif self._last is not None:
            self._last = None
            self._finish(self.mask, "Eraser stroke" if self.tool == "eraser" else "Brush stroke")

    def leaveEvent(self, _event) -> None:  # noqa: N802 (Qt override)
        self._cursor = None
        self.update()

    def _stroke_to(self, x: float, y: float) -> None:
        x0, y0 = self._last
        op = mk.erase if self.tool == "eraser" else mk.brush
        self.mask = op(self.mask, x0, y0, x, y, self.radius, self.hardness)
        self._last = (x, y)
        self._refresh_overlay()

    def _finish(self, new: np.ndarray, what: str) -> None:
        old, self._before = self._before, None
        if old is not None and not np.array_equal(old, new):
            self.edited.emit(old, np.asarray(new, np.float32), what)
        else:
            self.set_mask(old)


class CompareView(ZoomPan, QWidget):
    """Two pictures of one size: ``before`` left of the split, ``after`` right of it.
    Drag in the view (or set ``split``, 0..1) to move the line."""

    split_changed = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._before: QPixmap | None = None
        self._after: QPixmap | None = None
        self._shape: tuple[int, int] = (1, 1)
        self.split = 0.0
        self.placeholder = ""
        self.caption = ""
        self._init_zoom()
        self.setMinimumSize(160, 160)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setCursor(Qt.CursorShape.SplitHCursor)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt override)
        return QSize(320, 320)

    def set_pictures(self, before: np.ndarray | None, after: np.ndarray | None) -> None:
        shown = after if after is not None else before
        if shown is not None:
            if tuple(shown.shape[:2]) != tuple(self._shape):
                self.fit()
            self._shape = shown.shape[:2]
        self._before = None if before is None else QPixmap.fromImage(to_qimage(before))
        self._after = None if after is None else QPixmap.fromImage(to_qimage(after))
        self.update()

    def set_after(self, after: np.ndarray) -> None:
        """Only the ``after`` picture (a running job's preview): the ``before`` one, the
        same for the whole run, is not converted again."""
        if tuple(after.shape[:2]) != tuple(self._shape):
            self.fit()
            self._shape = after.shape[:2]
        self._after = QPixmap.fromImage(to_qimage(after))
        self.update()

    def set_split(self, split: float) -> None:
        self.split = float(min(max(split, 0.0), 1.0))
        self.split_changed.emit(self.split)
        self.update()

    def _fitted(self) -> QRect:
        return _fit(self, *self._shape, bottom=16 if self.caption else 0)

    def paintEvent(self, _event) -> None:  # noqa: N802 (Qt override)
        p = QPainter(self)
        r = self._target()
        p.setClipRect(self.rect().adjusted(0, 0, 0, -(16 if self.caption else 0)))
        p.fillRect(r, QColor("#fafafa"))
        if self._after is not None:
            p.drawPixmap(r, self._after)
        elif self._before is not None:
            p.drawPixmap(r, self._before)
        elif self.placeholder:
            p.setPen(QColor("#888"))
            p.drawText(r, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                       self.placeholder)
        if self._before is not None and self._after is not None and self.split > 0:
            cut = int(r.width() * self.split)
            src_w = self._before.width() * self.split
            p.drawPixmap(QRectF(r.left(), r.top(), cut, r.height()), self._before,
                         QRectF(0, 0, src_w, self._before.height()))
            p.setPen(QPen(QColor("#1a73e8"), 2))
            p.drawLine(QPoint(r.left() + cut, r.top()), QPoint(r.left() + cut, r.bottom()))
        p.setPen(QPen(QColor("#c8c8c8"), 1))
        p.drawRect(r.adjusted(0, 0, -1, -1))
        p.setClipping(False)
        if self.caption:
            p.setPen(QColor("#333"))
            r = self._fitted()
            p.drawText(QRect(0, r.bottom() + 1, self.width(), 16),
                       Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop, self.caption)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        if not self._panning(event):
            self.mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        self._panning(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        if self._panning(event):
            return
        if event.buttons() & Qt.MouseButton.LeftButton:
            r = self._target()
            self.set_split((event.position().x() - r.left()) / max(r.width(), 1))
