"""A 2-D pad: drag a point inside a square whose corners are four images."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPen
from PySide6.QtWidgets import QWidget


class PadCanvas(QWidget):
    """Emits ``moved(u, v)`` while dragging (u right, v down, both in [0, 1]) and
    ``released(u, v)`` when the drag ends."""

    moved = Signal(float, float)
    released = Signal(float, float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.u, self.v = 0.5, 0.5
        self.labels = ("A", "B", "C", "D")
        self.setMinimumSize(140, 140)
        self.setCursor(Qt.CursorShape.CrossCursor)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt override)
        return QSize(220, 220)

    def _square(self) -> QRectF:
        side = min(self.width(), self.height()) - 40
        return QRectF((self.width() - side) / 2, (self.height() - side) / 2, side, side)

    def set_position(self, u: float, v: float) -> None:
        self.u, self.v = min(max(u, 0.0), 1.0), min(max(v, 0.0), 1.0)
        self.update()

    def paintEvent(self, _event) -> None:  # noqa: N802 (Qt override)
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        sq = self._square()
        p.fillRect(sq, QColor("#f4f6fb"))
        p.setPen(QPen(QColor("#d0d5e0"), 1))
        for k in range(1, 4):
            x = sq.left() + sq.width() * k / 4
            y = sq.top() + sq.height() * k / 4
            p.drawLine(QPointF(x, sq.top()), QPointF(x, sq.bottom()))
            p.drawLine(QPointF(sq.left(), y), QPointF(sq.right(), y))
        p.setPen(QPen(QColor("#8a93a6"), 1.5))
        p.drawRect(sq)
        p.setPen(QColor("#333"))
        corners = (sq.topLeft(), sq.topRight(), sq.bottomLeft(), sq.bottomRight())
        offsets = ((-14, -4), (4, -4), (-14, 14), (4, 14))
        for label, c, (dx, dy) in zip(self.labels, corners, offsets):
            p.drawText(QPointF(c.x() + dx, c.y() + dy), label)
        pt = QPointF(sq.left() + self.u * sq.width(), sq.top() + self.v * sq.height())
        p.setBrush(QColor("#1a73e8"))
        p.setPen(QPen(QColor("white"), 2))
        p.drawEllipse(pt, 7, 7)

    def _uv(self, event: QMouseEvent) -> tuple[float, float]:
        sq = self._square()
        pos = event.position()
        u = (pos.x() - sq.left()) / sq.width()
        v = (pos.y() - sq.top()) / sq.height()
        return min(max(u, 0.0), 1.0), min(max(v, 0.0), 1.0)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        self.mouseMoveEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        if event.buttons() & Qt.MouseButton.LeftButton:
            self.set_position(*self._uv(event))
            self.moved.emit(self.u, self.v)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        if event.button() == Qt.MouseButton.LeftButton:
            self.released.emit(self.u, self.v)
