"""Attributes: move a picture along its model's directions.

A picture (opened, pasted, dropped, a glyph of the data set) or a prior sample is encoded by
a latent model; a slider per direction moves it: named directions (bold, italic, wide, serif,
monospace: fitted to labels measured on the glyphs and read from their fonts' tables) and
principal ones (pc1...). "Hold" keeps a direction's attribute while others move (it is
projected out of them); for a style model each direction acts on a layer range. A strip shows
steps along one direction; the edit goes to the latent library, the Latent Explorer or a PNG.

Every change renders in the interactive lane under one key (latest wins): sliders stay
smooth while the model works.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QEvent, Qt, QTimer
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QPushButton,
    QScrollArea,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from models.image.directions import DirectionSet
from models.image.io import save_image, to_uint8
from models.protocol import Capability, JobContext
from models.registry import Registry
from models.tasks.pictures import picture_for_model
from models.tasks.runner import warm_fingerprint
from studio import dialogs
from studio.panels import register_panel
from studio.panels.base import DocCommand, Panel, ParamCommand, StudioContext, ask_png
from studio.panels.latent import IMAGE_FILTER, open_dataset, paste_picture, read_picture
from studio.panels.stylemix import GlyphPicker
from studio.state.attributes import AMOUNT_LIMIT, STRIP_STEPS, AttributesDoc
from studio.widgets.image_view import ImageView
from studio.widgets.model_combo import ModelCombo

TICKS = 10                      # slider positions per step
EXPORT_SCALE = 4


# -- jobs (worker thread; numpy in, numpy out) ----------------------------------------------

def load_directions(registry: Registry, model: str, *, ctx: JobContext
                    ) -> DirectionSet | None:
    """The model's fitted directions, or None where none were fitted."""
    from models.train.directions import directions_path

    path = directions_path(registry.info(model))
    return DirectionSet.load(path) if path.is_file() else None


def fit_directions(registry: Registry, model: str, *, ctx: JobContext) -> DirectionSet:
    from models.train.directions import directions_path, fit_model

    fit_model(model, registry=registry, log=lambda _line: None, ctx=ctx, n_train=6000,
              n_test=200)
    return DirectionSet.load(directions_path(registry.info(model)))


def encode_source(registry: Registry, model: str, picture: np.ndarray | None,
                  seed: int | None, *, ctx: JobContext
                  ) -> tuple[np.ndarray, np.ndarray, str]:
    """(latent (D,), the model's reconstruction as uint8 RGB, a note of the framing)."""
    backend = registry.get(model)
    if picture is not None:
        img, note = picture_for_model(registry, model, picture)
        z = backend.encode(img[None], ctx=ctx)[0]
    elif seed is not None:
        z, note = backend.sample_latents(1, int(seed))[0], ""
    else:
        raise ValueError("open a picture or draw a sample first")
    warm_fingerprint(registry, model)          # the export's recipe, later, costs nothing
    return z, to_uint8(backend.decode(z[None], ctx=ctx))[0], note


def render(registry: Registry, model: str, latents: np.ndarray, tag: Any, *,
           ctx: JobContext) -> tuple[Any, np.ndarray, np.ndarray]:
    """(tag, decoded float pictures, as uint8 RGB) of (N, D) latents."""
    pics = registry.get(model).decode(latents, ctx=ctx)
    return tag, pics, to_uint8(pics)


@register_panel
class AttributesPanel(Panel):
    name = "attributes"
    title = "Picture attributes"
    open_filter = IMAGE_FILTER

    def __init__(self, ctx: StudioContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self.doc = AttributesDoc()
        self.directions: DirectionSet | None = None
        self.base_latent: np.ndarray | None = None
        self.edited_latent: np.ndarray | None = None
        self.edited: np.ndarray | None = None          # float (H, W, C) of the edit
        self.strip_latents: np.ndarray | None = None
        self._rows: dict[str, tuple[QSlider, QLabel, QCheckBox]] = {}
        self._glyphs = None
        self._build()
        self.backend_changed()

    # -- layout ---------------------------------------------------------------------------
    def _build(self) -> None:
        self.model_combo = ModelCombo("Latent models; each has its own directions")
        self.open_button = QPushButton("Open…")
        self.paste_button = QPushButton("Paste")
        self.glyph_button = QPushButton("Glyph…")
        self.sample_button = QPushButton("Sample")
        self.sample_button.setToolTip("A random sample of the model (a new seed each time)")
        self.fit_button = QPushButton("Fit directions…")
        self.fit_button.setToolTip("Fit this model's directions on the glyph data set "
                                   "(a minute or two; cancel with the status bar)")
        top = QHBoxLayout()
        top.addWidget(QLabel("Model"))
        top.addWidget(self.model_combo, 1)
        for b in (self.open_button, self.paste_button, self.glyph_button, self.sample_button,
                  self.fit_button):
            top.addWidget(b)

        self.before_view = ImageView(160, "as the model sees it")
        self.after_view = ImageView(160, "edited")
        self.status_label = QLabel("Open a picture, paste one or draw a sample")
        self.status_label.setWordWrap(True)
        views = QHBoxLayout()
        views.addWidget(self.before_view, 1)
        views.addWidget(self.after_view, 1)
        left = QVBoxLayout()
        left.addLayout(views, 1)
        left.addWidget(self.status_label)

        strip_box = QGroupBox("Strip along one direction")
        self.strip_combo = QComboBox()
        self.strip_steps = QComboBox()
        for n in STRIP_STEPS:
            self.strip_steps.addItem(f"{n} steps", n)
        self.strip_steps.setCurrentIndex(STRIP_STEPS.index(self.doc.strip_steps))
        self.strip_reach = QDoubleSpinBox(minimum=0.5, maximum=AMOUNT_LIMIT, singleStep=0.5,
                                          value=3.0, prefix="± ", decimals=1)
        self.strip_reach.setToolTip("How far the strip reaches either way (steps)")
        self.strip_view = ImageView(56)
        self.strip_view.setFixedHeight(96)
        self.strip_view.setToolTip("Click to use the step under the cursor")
        sl = QGridLayout(strip_box)
        sl.addWidget(self.strip_combo, 0, 0)
        sl.addWidget(self.strip_steps, 0, 1)
        sl.addWidget(self.strip_reach, 0, 2)
        sl.addWidget(self.strip_view, 1, 0, 1, 3)
        left.addWidget(strip_box)

        self.keep_button = QPushButton("Keep in library")
        self.send_button = QPushButton("To Latent Explorer")
        self.export_button = QPushButton("Export PNG…")
        self.reset_button = QPushButton("Reset sliders")
        actions = QHBoxLayout()
        for b in (self.reset_button, self.keep_button, self.send_button, self.export_button):
            actions.addWidget(b)
        left.addLayout(actions)

        self.sliders_box = QWidget()
        self.sliders_grid = QGridLayout(self.sliders_box)
        self.sliders_grid.setColumnStretch(1, 1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.sliders_box)
        layer_box = QGroupBox("Layers (style models)")
        self.layer_direction = QComboBox()
        self.layer_from = QSpinBox()
        self.layer_to = QSpinBox()
        ll = QHBoxLayout(layer_box)
        ll.addWidget(self.layer_direction, 1)
        ll.addWidget(QLabel("rows"))
        ll.addWidget(self.layer_from)
        ll.addWidget(QLabel("to"))
        ll.addWidget(self.layer_to)
        right = QVBoxLayout()
        hint = QLabel("A step is one standard deviation of the data along the direction. "
                      "Hold keeps that attribute while others move.")
        hint.setWordWrap(True)
        right.addWidget(hint)
        right.addWidget(scroll, 1)
        right.addWidget(layer_box)

        self.set_columns(top, left, right)

        self.model_combo.currentIndexChanged.connect(self._on_model_chosen)
        self.open_button.clicked.connect(self._on_open_clicked)
        self.paste_button.clicked.connect(self.paste)
        self.glyph_button.clicked.connect(self._on_glyph_clicked)
        self.sample_button.clicked.connect(self.draw_sample)
        self.fit_button.clicked.connect(self.fit)
        self.reset_button.clicked.connect(self.reset)
        self.keep_button.clicked.connect(self._on_keep_clicked)
        self.send_button.clicked.connect(self.to_latent_explorer)
        self.export_button.clicked.connect(self.export)
        self.strip_combo.currentIndexChanged.connect(lambda _: self._strip_changed())
        self.strip_steps.currentIndexChanged.connect(lambda _: self._strip_changed())
        self.strip_reach.valueChanged.connect(lambda _: self._strip_changed())
        # An event filter, not a patched handler: no reference cycle through the widget.
        self.strip_view.installEventFilter(self)
        self.layer_direction.currentIndexChanged.connect(lambda _: self._show_layers())
        self.layer_from.valueChanged.connect(lambda _: self._layers_changed())
        self.layer_to.valueChanged.connect(lambda _: self._layers_changed())
        self.add_shortcut("Ctrl+V", self.paste, "Attributes: paste a picture")
        self.add_shortcut("Ctrl+R", self.reset, "Attributes: reset every slider")
        self._render_timer = QTimer(self, singleShot=True, interval=0)
        self._render_timer.timeout.connect(self._render)
        self._update_enabled()

    # -- models and directions --------------------------------------------------------------
    def backend_changed(self) -> None:
        # Directions are fitted on a data set of one size: no model of any size here.
        infos = [i for i in self.ctx.registry.infos(Capability.LATENT)
                 if (Capability.SAMPLE in i.capabilities or i.latent_size)
                 and Capability.ANY_SIZE not in i.capabilities]
        prefer = self.doc.model or self.model_combo.current_name or "vae-glyphs"
        self.model_combo.set_models(infos, prefer)
        self._on_model_chosen()

    @property
    def model(self) -> str:
        return self.model_combo.current_name

    def _on_model_chosen(self, _index: int = 0) -> None:
        model = self.model
        if not model or model == getattr(self, "_loaded_model", None):
            return
        self._loaded_model = model
        self.directions = None
        self.base_latent = self.edited_latent = self.edited = self.strip_latents = None
        for view in (self.before_view, self.after_view, self.strip_view):
            view.set_image(None)
        self._build_sliders()
        if self.doc.model != model:
            self.doc.model = model
        self.ctx.jobs.submit("attributes-directions", load_directions, self.ctx.registry,
                             model, lane="io", label="Reading directions",
                             on_result=lambda ds, m=model: self._directions_loaded(m, ds),
                             on_error=self.error.emit)

    def _directions_loaded(self, model: str, ds: DirectionSet | None) -> None:
        if model != self.model:
            return
        self.directions = ds
        self._show_status()
        self._build_sliders()
        self._encode()

    def fit(self) -> None:
        model = self.model
        if not model:
            return
        self.ctx.jobs.submit("attributes-fit", fit_directions, self.ctx.registry, model,
                             lane="long", label=f"Fitting directions of {model}",
                             on_result=lambda ds, m=model: self._fitted(m, ds),
                             on_error=self.error.emit)

    def _fitted(self, model: str, ds: DirectionSet) -> None:
        self.message.emit(f"Fitted {len(ds.names)} directions of {model}")
        if model == self.model:
            self._directions_loaded(model, ds)

    def _build_sliders(self) -> None:
        while self.sliders_grid.count():
            w = self.sliders_grid.takeAt(0).widget()
            if w is not None:
                # Hidden now (never drawn under the new rows) and deleted by Qt on the main
                # thread: not reparented to None, which would hand it to Python's collector,
                # and that may free it on a worker thread (a deadlock with Qt's locks).
                w.hide()
                w.deleteLater()
        self._rows.clear()
        self.strip_combo.blockSignals(True)
        self.layer_direction.blockSignals(True)
        self.strip_combo.clear()
        self.layer_direction.clear()
        ds = self.directions
        for r, d in enumerate(ds.directions if ds else []):
            name = QLabel(d.name)
            name.setToolTip(f"{d.kind}: {d.label}"
                            + (f" ({d.explained:.1%} of the variance)" if d.explained else ""))
            slider = QSlider(Qt.Orientation.Horizontal)
            slider.setRange(int(-AMOUNT_LIMIT * TICKS), int(AMOUNT_LIMIT * TICKS))
            slider.setValue(int(round(self.doc.amounts.get(d.name, 0.0) * TICKS)))
            slider.setObjectName(f"slider-{d.name}")
            value = QLabel(f"{self.doc.amounts.get(d.name, 0.0):+.1f}")
            value.setMinimumWidth(34)
            hold = QCheckBox("Hold")
            hold.setChecked(d.name in self.doc.holds)
            hold.setToolTip(f"Keep {d.name} unchanged while other directions move")
            slider.valueChanged.connect(lambda v, n=d.name: self._slider_moved(n, v))
            hold.toggled.connect(lambda on, n=d.name: self._hold_toggled(n, on))
            self.sliders_grid.addWidget(name, r, 0)
            self.sliders_grid.addWidget(slider, r, 1)
            self.sliders_grid.addWidget(value, r, 2)
            self.sliders_grid.addWidget(hold, r, 3)
            self._rows[d.name] = (slider, value, hold)
            self.strip_combo.addItem(d.name)
            self.layer_direction.addItem(d.name)
        if ds is not None and self.doc.strip_direction in ds.names:
            self.strip_combo.setCurrentText(self.doc.strip_direction)
        self.strip_combo.blockSignals(False)
        self.layer_direction.blockSignals(False)
        self._show_layers()
        self._update_enabled()

    def _update_enabled(self) -> None:
        has = self.directions is not None
        ready = has and self.base_latent is not None
        for b in (self.keep_button, self.send_button, self.export_button, self.reset_button):
            b.setEnabled(ready)
        self.fit_button.setVisible(not has)
        shaped = has and self.directions.layer_shape is not None
        for w in (self.layer_direction, self.layer_from, self.layer_to):
            w.setEnabled(bool(shaped))

    # -- layers -----------------------------------------------------------------------------
    def _range_of(self, name: str) -> tuple[int, int] | None:
        if self.directions is None or name not in self.directions.names:
            return None
        return self.doc.layers.get(name, self.directions.get(name).layers)

    def _show_layers(self) -> None:
        ds = self.directions
        n = ds.layer_shape[0] if ds is not None and ds.layer_shape else 1
        rng = self._range_of(self.layer_direction.currentText()) or (0, n)
        for w in (self.layer_from, self.layer_to):
            w.blockSignals(True)
            w.setRange(0, n - 1)
        self.layer_from.setValue(rng[0])
        self.layer_to.setValue(rng[1] - 1)
        for w in (self.layer_from, self.layer_to):
            w.blockSignals(False)

    def _layers_changed(self) -> None:
        name = self.layer_direction.currentText()
        if not name or self.directions is None or self.directions.layer_shape is None:
            return
        a, b = self.layer_from.value(), self.layer_to.value()
        if b < a:
            b = a
            self.layer_to.setValue(b)
            return
        new = self.doc.state()
        new["layers"] = {**new["layers"], name: [a, b + 1]}
        self.undo_stack.push(DocCommand(self, f"Layers of {name}", new))

    # -- sources ----------------------------------------------------------------------------
    def _on_open_clicked(self) -> None:
        path = dialogs.open_file(self, "picture", "Open picture", IMAGE_FILTER)
        if path:
            self.open_file(path)

    def open_file(self, path: str) -> None:
        from pathlib import Path

        self.ctx.jobs.submit("attributes-read", read_picture, path, lane="io",
                             label=f"Reading {Path(path).name}",
                             on_result=lambda r, p=path: self.set_picture(r[0], Path(p).name),
                             on_error=self.error.emit)

    def paste(self) -> None:
        paste_picture(self, self.set_picture)

    def _on_glyph_clicked(self) -> None:
        if self._glyphs is None:
            self.ctx.jobs.submit("attributes-glyphs", open_dataset, "glyphs", lane="io",
                                 label="Reading the glyph data set",
                                 on_result=self._glyphs_ready, on_error=self.error.emit)
            return
        self._pick_glyph()

    def _glyphs_ready(self, index: Any) -> None:
        if index is None:
            self.error.emit("The glyph data set is not built: latent-studio data build "
                            "glyphs (or the Latent Explorer's browser)", "")
            return
        self._glyphs = index
        self._pick_glyph()

    def _pick_glyph(self) -> None:
        dialog = GlyphPicker(self._glyphs, self)
        if dialog.exec() == QDialog.DialogCode.Accepted and (got := dialog.chosen()):
            self.set_picture(got[0], got[1])

    def set_picture(self, rgb: np.ndarray, label: str) -> None:
        new = self.doc.state()
        new.update(picture=np.asarray(rgb, np.uint8), seed=None, label=label)
        self.undo_stack.push(DocCommand(self, f"Picture {label}", new))

    def draw_sample(self) -> None:
        seed = int(np.random.default_rng().integers(0, 2**31 - 1))
        new = self.doc.state()
        new.update(picture=None, seed=seed, label=f"sample {seed}")
        self.undo_stack.push(DocCommand(self, f"Sample {seed}", new))

    def receive_picture(self, rgb: Any, label: str) -> None:
        self.set_picture(np.asarray(rgb, np.uint8), label)

    # -- the document -----------------------------------------------------------------------
    def set_doc(self, doc: AttributesDoc) -> None:
        """Show ``doc`` (undo, redo, sessions); encodes again only when the source changed."""
        old = self.doc
        self.doc = doc
        same_source = (old.seed == doc.seed and old.model == doc.model
                       and ((old.picture is None and doc.picture is None)
                            or (old.picture is not None and doc.picture is not None
                                and np.array_equal(old.picture, doc.picture))))
        if doc.model and doc.model != self.model and doc.model in self.model_combo.names():
            self.model_combo.select(doc.model)
            return                          # the model's directions load, then it encodes
        for name, (slider, value, hold) in self._rows.items():
            for w in (slider, hold):
                w.blockSignals(True)
            slider.setValue(int(round(doc.amounts.get(name, 0.0) * TICKS)))
            value.setText(f"{doc.amounts.get(name, 0.0):+.1f}")
            hold.setChecked(name in doc.holds)
            for w in (slider, hold):
                w.blockSignals(False)
        self.strip_combo.blockSignals(True)
        if doc.strip_direction in [self.strip_combo.itemText(i)
                                   for i in range(self.strip_combo.count())]:
            self.strip_combo.setCurrentText(doc.strip_direction)
        self.strip_combo.blockSignals(False)
        for w, v in ((self.strip_steps, STRIP_STEPS.index(doc.strip_steps)
                      if doc.strip_steps in STRIP_STEPS else 1),
                     (self.strip_reach, doc.strip_reach)):
            w.blockSignals(True)
            if w is self.strip_steps:
                w.setCurrentIndex(v)
            else:
                w.setValue(v)
            w.blockSignals(False)
        self._show_layers()
        if same_source and self.base_latent is not None:
            self._schedule_render()
        else:
            self._encode()

    def _encode(self) -> None:
        self.base_latent = None
        self._update_enabled()
        if not self.doc.has_source or not self.model:
            return
        model = self.model
        self.ctx.jobs.submit("attributes-encode", encode_source, self.ctx.registry, model,
                             self.doc.picture, self.doc.seed, lane="interactive",
                             label="Encoding",
                             on_result=lambda r, m=model: self._encoded(m, r),
                             on_error=self.error.emit)

    def _encoded(self, model: str, result: tuple[np.ndarray, np.ndarray, str]) -> None:
        if model != self.model:
            return
        z, recon, note = result
        self.base_latent = z
        self.before_view.set_image(recon)
        self._note = note
        self._show_status()
        self._update_enabled()
        self._schedule_render()

    def _show_status(self) -> None:
        parts = []
        if self.doc.has_source:
            note = getattr(self, "_note", "")
            parts.append(self.doc.label + (f" ({note})" if note else ""))
        else:
            parts.append("Open a picture, paste one or draw a sample")
        if self.directions is None and self.model:
            parts.append(f"{self.model} has no directions yet: Fit directions… finds them on "
                         "its data set (glyphs: named and principal; colour: principal) or, "
                         "for a GAN, in its own samples of W (GANSpace)")
        self.status_label.setText(". ".join(parts))

    def _slider_moved(self, name: str, value: int) -> None:
        amount = value / TICKS
        self._rows[name][1].setText(f"{amount:+.1f}")
        self.undo_stack.push(ParamCommand(self._apply_amount, name,
                                          self.doc.amounts.get(name, 0.0), amount))

    def _apply_amount(self, name: str, amount: float) -> None:
        self.doc.amounts[name] = float(amount)
        if name in self._rows:
            slider, value, _ = self._rows[name]
            slider.blockSignals(True)
            slider.setValue(int(round(amount * TICKS)))
            slider.blockSignals(False)
            value.setText(f"{amount:+.1f}")
        self._schedule_render()

    def _hold_toggled(self, name: str, on: bool) -> None:
        new = self.doc.state()
        holds = set(new["holds"]) | {name} if on else set(new["holds"]) - {name}
        new["holds"] = sorted(holds)
        self.undo_stack.push(DocCommand(self, f"{'Hold' if on else 'Release'} {name}", new))

    def _strip_changed(self) -> None:
        new = self.doc.state()
        new.update(strip_direction=self.strip_combo.currentText() or new["strip_direction"],
                   strip_steps=int(self.strip_steps.currentData() or 7),
                   strip_reach=float(self.strip_reach.value()))
        if new != self.doc.state():
            self.undo_stack.push(DocCommand(self, "Strip", new))

    def reset(self) -> None:
        if not self.doc.moved():
            return
        new = self.doc.state()
        new["amounts"] = {}
        self.undo_stack.push(DocCommand(self, "Reset sliders", new))

    # -- rendering --------------------------------------------------------------------------
    def _schedule_render(self) -> None:
        self._render_timer.start()

    def _render(self) -> None:
        ds, z = self.directions, self.base_latent
        if ds is None or z is None:
            return
        try:
            edited = self.doc.edit(ds, z)
            strip, amounts = (self.doc.strip(ds, z) if self.doc.strip_direction in ds.names
                              else (np.zeros((0, z.size), np.float32), []))
        except ValueError as exc:
            self.error.emit(str(exc), "")
            return
        self.edited_latent = edited
        self.strip_latents = strip
        self._strip_amounts = amounts
        batch = np.concatenate([edited[None], strip])
        self.ctx.jobs.submit("attributes-render", render, self.ctx.registry, self.model,
                             batch, self.doc.describe(), lane="interactive",
                             label="Rendering", on_result=self._rendered,
                             on_error=self.error.emit)

    def _rendered(self, result: tuple[str, np.ndarray, np.ndarray]) -> None:
        what, pics, rgb = result
        self.edited = pics[0]
        self.after_view.set_image(rgb[0])
        self.after_view.caption = what if len(what) < 40 else what[:37] + "…"
        self.after_view.update()
        if len(rgb) > 1:
            gap = np.full((rgb.shape[1], 3, 3), 255, np.uint8)
            row = [x for im in rgb[1:] for x in (im, gap)][:-1]
            self.strip_view.set_image(np.concatenate(row, axis=1))
        self._update_enabled()

    def eventFilter(self, obj: Any, event: Any) -> bool:  # noqa: N802 (Qt override)
        if obj is self.strip_view and event.type() == QEvent.Type.MouseButtonPress:
            self._on_strip_pressed(event)
            return True
        return super().eventFilter(obj, event)

    def _on_strip_pressed(self, event: Any) -> None:
        if self.strip_latents is None or not len(self.strip_latents):
            return
        img = self.strip_view.image()
        if img is None:
            return
        target = self.strip_view._target()
        frac = (event.position().x() - target.x()) / max(target.width(), 1)
        k = int(np.clip(frac * len(self.strip_latents), 0, len(self.strip_latents) - 1))
        self.use_strip_step(k)

    def use_strip_step(self, k: int) -> None:
        """Set the strip direction's slider to the amount of step ``k``."""
        name = self.doc.strip_direction
        amount = float(np.clip(self._strip_amounts[k], -AMOUNT_LIMIT, AMOUNT_LIMIT))
        new = self.doc.state()
        new["amounts"] = {**new["amounts"], name: amount}
        self.undo_stack.push(DocCommand(self, f"{name} {amount:+.1f}", new))

    # -- results ----------------------------------------------------------------------------
    def _on_keep_clicked(self) -> None:
        if self.edited_latent is None:
            return
        default = f"{self.doc.label} ({self.doc.describe()})"
        name, ok = QInputDialog.getText(self, "Keep latent", "Name:", text=default)
        if ok:
            self.keep(name)

    def keep(self, name: str) -> None:
        """Send the edited latent to the latent library (the Latent Explorer keeps it)."""
        if self.edited_latent is None:
            self.error.emit("Nothing to keep yet", "")
            return
        self.keep_in_library.emit(self.model, self.edited_latent.copy(),
                                  name.strip() or "attributes")

    def to_latent_explorer(self) -> None:
        if self.edited_latent is not None:
            self.send_latent.emit(self.model, self.edited_latent.copy(),
                                  f"{self.doc.label} ({self.doc.describe()})")

    def export(self) -> None:
        if self.edited is None:
            self.message.emit("Attributes has nothing to export yet")
            return
        path = ask_png(self, "Export edited picture", "edited.png")
        if path:
            self.export_to(path)

    def export_to(self, path: str) -> None:
        """The edited picture with its recipe (its edited latent and the moves that made
        it), in the history too."""
        from models import device as devices
        from models.recipe import Recipe

        recipe = None
        if self.edited_latent is not None:
            recipe = Recipe.of("decode", {"what": self.doc.describe(),
                                          "amounts": dict(self.doc.amounts),
                                          "holds": sorted(self.doc.holds),
                                          "source": self.doc.label, "scale": EXPORT_SCALE},
                               model_info=self.ctx.registry.info(self.model),
                               arrays={"latent": np.asarray(self.edited_latent, np.float32)},
                               device=devices.current_device())
        if not self.write_or_say(
                lambda: save_image(self.edited, path, scale=EXPORT_SCALE, recipe=recipe), path):
            return
        if recipe is not None:
            self.result_made.emit(recipe, self.after_view.image(), self.title)
        self.message.emit(f"Wrote {path}")

    # -- sessions ---------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return self.doc.state()

    def restore_state(self, state: dict[str, Any]) -> None:
        self.undo_stack.clear()
        self.set_doc(AttributesDoc.from_state(state))
        self.undo_stack.setClean()


if __name__ == "__main__":
    from studio.panels.standalone import run_standalone

    raise SystemExit(run_standalone(AttributesPanel))
