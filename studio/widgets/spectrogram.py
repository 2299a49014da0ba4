"""The spectrogram view: a dB image over time and frequency (pyqtgraph), with a play
cursor, a selection rectangle, Hz ticks, and mouse gestures turned into strokes and
rectangles. It draws what it is given; the panel decides what that is."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtWidgets import QGraphicsRectItem

from models.audio.io import colormap_lut

TICKS_HZ = (100, 250, 500, 1000, 2000, 4000, 8000, 16000)


class SpectrogramImage(pg.ImageItem):
    """The image the user paints on; mouse gestures become strokes and rectangles."""

    stroke = Signal(list, bool)      # points [[frame, bin], ...], finished
    rect_drag = Signal(QRectF, QPointF, bool)   # start rect or move origin, drag delta, done
    clicked = Signal(float)          # frame
    hovered = Signal(float, float)   # frame, bin

    def __init__(self) -> None:
        super().__init__(axisOrder="row-major")
        self.tool = "pan"
        self._points: list[list[float]] = []
        self.setAcceptHoverEvents(True)

    def hoverEvent(self, ev) -> None:  # noqa: N802 (Qt override)
        if not ev.isExit():
            p = ev.pos()
            self.hovered.emit(float(p.x()), float(p.y()))

    def mouseClickEvent(self, ev) -> None:  # noqa: N802 (Qt override)
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            self.clicked.emit(float(ev.pos().x()))

    def mouseDragEvent(self, ev) -> None:  # noqa: N802 (Qt override)
        if self.tool == "pan" or ev.button() != Qt.MouseButton.LeftButton:
            ev.ignore()
            return
        ev.accept()
        p = ev.pos()
        if self.tool in ("brush", "eraser"):
            if ev.isStart():
                self._points = [[float(ev.buttonDownPos().x()), float(ev.buttonDownPos().y())]]
            self._points.append([float(p.x()), float(p.y())])
            self.stroke.emit(list(self._points), bool(ev.isFinish()))
        else:
            a = ev.buttonDownPos()
            self.rect_drag.emit(QRectF(a, p).normalized(), QPointF(p - a), bool(ev.isFinish()))


class SpectrogramView(pg.PlotWidget):
    """The plot: ``image`` (the dB picture, which takes the mouse), ``playhead``,
    ``sel_item`` (the selection) and a line of text while there is nothing to show."""

    def __init__(self) -> None:
        super().__init__()
        self.setBackground("#111")
        self.setLabel("bottom", "time", units="s")
        self.setLabel("left", "frequency (Hz)")
        self.getViewBox().setMouseMode(pg.ViewBox.PanMode)
        self.image = SpectrogramImage()
        self.image.setLookupTable(colormap_lut())
        self.addItem(self.image)
        self.playhead = pg.InfiniteLine(0, angle=90, pen=pg.mkPen("#6cf", width=2))
        self.addItem(self.playhead)
        self.sel_item = QGraphicsRectItem(0, 0, 1, 1)
        self.sel_item.setPen(pg.mkPen("#fff", width=1, style=Qt.PenStyle.DashLine,
                                      cosmetic=True))
        self.sel_item.setZValue(10)
        self.sel_item.setVisible(False)
        self.addItem(self.sel_item)
        self.empty_text = pg.TextItem("Open or record a clip", color="#bbb", anchor=(0.5, 0.5))
        self.addItem(self.empty_text)

    def show_empty(self, freqs: np.ndarray, seconds: float) -> None:
        """No clip: a time axis from 0 to ``seconds``, the frequency axis of ``freqs`` (Hz
        of each band), and what to do."""
        self.image.clear()
        bins = len(freqs)
        vb = self.getViewBox()
        vb.setLimits(xMin=0, xMax=seconds, yMin=0, yMax=bins)
        vb.setRange(xRange=(0, seconds), yRange=(0, bins), padding=0)
        self.set_freq_ticks(freqs)
        self.empty_text.setPos(seconds / 2, bins / 2)
        self.empty_text.setVisible(True)

    def show_db(self, db: np.ndarray, hop_s: float, freqs: np.ndarray,
                levels: tuple[float, float], span_s: float | None = None) -> None:
        """Draw ``db`` (bands, frames); panning stays on it (no negative times or
        frequencies). ``span_s`` shows a fixed time span (the live view of a take)."""
        self.empty_text.setVisible(False)
        self.image.setImage(db, autoLevels=False, levels=levels)
        self.image.setRect(QRectF(0, 0, db.shape[1] * hop_s, db.shape[0]))
        vb = self.getViewBox()
        vb.setLimits(xMin=0, xMax=max(span_s or db.shape[1] * hop_s, 0.1), yMin=0,
                     yMax=db.shape[0])
        if span_s is not None:
            vb.setRange(xRange=(0, span_s), yRange=(0, db.shape[0]), padding=0)
        self.set_freq_ticks(freqs)

    def set_freq_ticks(self, freqs: np.ndarray) -> None:
        """Ticks at round frequencies, placed by the bands' centre frequencies."""
        bins = np.arange(len(freqs))
        ticks = [(float(np.interp(hz, freqs, bins)) + 0.5,
                  f"{hz / 1000:g}k" if hz >= 1000 else f"{hz}")
                 for hz in TICKS_HZ if freqs[0] <= hz <= freqs[-1]]
        self.getAxis("left").setTicks([ticks])
