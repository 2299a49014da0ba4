"""Latent Explorer: scrub between images in a VAE's latent space, walk a 2-D pad, do latent
arithmetic, keep a library of latents and export morphs.

Four slots A, B, C, D hold endpoints (an image, a prior sample with its seed, or a library
latent). The scrub morphs A to B; the pad blends A (top-left), B, C and D (bottom-right);
arithmetic computes A - B + C. Every decode runs in the job runner under one key per view, so
dragging only ever shows the newest frame.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import (
    QGuiApplication,
    QIcon,
    QPixmap,
    QUndoCommand,
)
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSlider,
    QSpinBox,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from models.data import build_dataset, dataset_path
from models.data.browse import DatasetIndex, load_index
from models.files import save_picture
from models.image.io import (
    flatten_alpha,
    open_picture,
    to_uint8,
)
from models.image.latent_ops import arithmetic, bilinear, interpolate, path
from models.protocol import BackendInfo, Capability, JobContext
from models.registry import Registry
from models.tasks.latent import export_frames
from models.tasks.pictures import far_warning, picture_for_model
from studio import dialogs
from studio.library import LatentLibrary
from studio.panels import register_panel
from studio.panels.base import (
    Panel,
    ParamCommand,
    StudioContext,
    clipboard_picture,
    with_suffix,
)
from studio.state.latent import SCRUB_MAX, SLOTS, LatentState, Slot
from studio.widgets.image_view import ImageView, to_qimage
from studio.widgets.model_combo import ModelCombo
from studio.widgets.pad import PadCanvas

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.gif *.webp *.tif *.tiff)"
GIF_FRAMES = 32
EXPORT_SCALES = (1, 2, 4, 8)
# Pictures a slot keeps (encoded again when the model changes); a model of any size (SD's
# VAE) works at the first picture's own size up to its family's limit (1024).
SOURCE_SIDE = 1024
DEFAULT_SIDE = 512  # the working size of such a model when no slot holds a picture


# -- jobs (run on the worker thread; numpy in, numpy out) ----------------------------------

def resolve_latent(registry: Registry, model: str, slot: Slot, *, ctx: JobContext
                   ) -> tuple[np.ndarray, np.ndarray | None, str, str]:
    """The latent of a slot under ``model``: encode its picture or draw its seed. Also the
    picture as the model received it (uint8 RGB, None for seeds), a note of how it was
    framed, and a warning when it is far from the model's data ("" when none)."""
    backend = registry.get(model)
    if slot.kind == "random":
        return backend.sample_latents(1, int(slot.seed))[0], None, "", ""
    if slot.kind == "image":
        img, note = picture_for_model(registry, model, slot.source)
        z = backend.encode(img[None], ctx=ctx)[0]
        warning = far_warning(registry, model, img, backend.decode(z[None], ctx=ctx)[0])
        return z, to_uint8(img[None])[0], note, warning
    raise ValueError(f"slot {slot.label} has no picture or seed to encode")


def decode_rgb(registry: Registry, model: str, latents: np.ndarray, *,
               ctx: JobContext) -> np.ndarray:
    """Decode (N, D) latents to display pixels (N, H, W, 3) uint8."""
    return to_uint8(registry.get(model).decode(latents, ctx=ctx))


def decode_with_tag(registry: Registry, model: str, latents: np.ndarray, tag: Any, *,
                    ctx: JobContext) -> tuple[Any, np.ndarray]:
    return tag, decode_rgb(registry, model, latents, ctx=ctx)


def write_samples(registry: Registry, model: str, n: int, seed: int, folder: str, *,
                  ctx: JobContext) -> str:
    """Decode ``n`` seeded prior samples to PNG files (for the Evaluation panel)."""
    backend = registry.get(model)
    images = backend.decode(backend.sample_latents(n, seed), ctx=ctx)
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    rgb = to_uint8(images)
    for k, img in enumerate(rgb):
        save_picture(Image.fromarray(img), out / f"{model}-seed{seed}-{k:04d}.png")
    return str(out)


def restore_ends(registry: Registry, recipe: Any, *, ctx: JobContext
                 ) -> tuple[str, list[Slot]]:
    """A morph recipe's model registered here and its two ends as slots (the io lane)."""
    from models.tasks import runner

    name = runner.model_for(registry, recipe)
    slots = []
    for key in ("a", "b"):
        if key in recipe.arrays:
            slots.append(Slot("latent", f"{key.upper()} of the recipe",
                              latent=recipe.arrays[key].astype(np.float32)))
            continue
        end = runner.seed_or_input(recipe, key)
        if isinstance(end, int):
            slots.append(Slot("random", f"seed {end}", seed=end))
        else:
            img, note = open_picture(end)
            slots.append(Slot("image", end.name, source=keep_source(img), note=note))
    return name, slots


def export_morph(registry: Registry, model: str, working: str, params: dict[str, Any],
                 a: np.ndarray, b: np.ndarray, out: str, *, ctx: JobContext
                 ) -> tuple[str, Any]:
    """The morph from ``a`` to ``b`` written as a strip or a GIF with its recipe (made here,
    in the io lane: a big model's fingerprint takes a moment the first time)."""
    from models import device as devices
    from models.recipe import Recipe

    recipe = Recipe.of("interpolate", params, model_info=registry.info(model),
                       arrays={"a": a, "b": b}, device=devices.current_device())
    z = path(a, b, int(params["steps"]), str(params["mode"]))
    export_frames(registry, working, z, out, int(params["scale"]), bool(params["smooth"]),
                  ctx=ctx, recipe=recipe)
    return out, recipe


def read_picture(path: str, *, ctx: JobContext) -> tuple[np.ndarray, str]:
    """Any image file as RGB uint8, uncropped and at most ``SOURCE_SIDE`` a side (each model
    frames it its own way when it encodes it, and says how), plus a note of the reading."""
    img, note = open_picture(path)
    return keep_source(img), note


def paste_picture(panel: Panel, take: Any) -> None:
    """The clipboard's picture to ``take(rgb, "pasted")`` (kept like an opened one), a file
    it names to ``panel.open_file``, or why there is nothing as the panel's error."""
    arr, path, why = clipboard_picture()
    if arr is not None:
        take(keep_source(Image.fromarray(arr)), "pasted")
    elif path:
        panel.open_file(path)
    else:
        panel.error.emit(why, "")


def keep_source(img: Image.Image) -> np.ndarray:
    """A picture as the RGB uint8 array a slot keeps: transparency over white, no crop,
    at most SOURCE_SIDE a side."""
    rgb = flatten_alpha(img).convert("RGB")
    rgb.thumbnail((SOURCE_SIDE, SOURCE_SIDE), Image.Resampling.LANCZOS)
    return np.asarray(rgb, dtype=np.uint8)


def open_dataset(name: str, *, ctx: JobContext) -> DatasetIndex | None:
    """The built data set, or None when it is not built yet."""
    return load_index(name) if dataset_path(name).is_file() else None


def summary_text(summary: dict) -> str:
    images = summary.get("images", {})
    if isinstance(images, dict):
        images = sum(images.values())
    parts = [f"{images} images"] if images else []
    if "fonts" in summary:
        parts.append(f"{summary['fonts']} fonts")
    return ", ".join(parts) or "done"


# -- undo commands --------------------------------------------------------------------------

class SetSlotCommand(QUndoCommand):
    def __init__(self, panel: LatentPanel, index: int, new: Slot | None) -> None:
        super().__init__(f"Set {SLOTS[index]}: {new.label if new else 'empty'}")
        self.panel, self.index, self.new = panel, index, new
        self.old = panel.slots[index]

    def redo(self) -> None:
        self.panel._apply_slot(self.index, self.new)

    def undo(self) -> None:
        self.panel._apply_slot(self.index, self.old)


# -- the panel ------------------------------------------------------------------------------

@register_panel
class LatentPanel(Panel):
    name = "latent"
    title = "Latent Explorer"
    open_filter = f"{IMAGE_FILTER};;Checkpoints (*.safetensors *.pt *.pth *.ckpt *.pkl)"
    checkpoint_capability = Capability.LATENT

    frame_shown = Signal(int)  # scrub position whose frame is now on screen

    def __init__(self, ctx: StudioContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        # Endpoints and parameters live in a Qt-free state; this view listens to it.
        self.doc = LatentState()
        self.doc.events.connect("slot", self._on_doc_slot)
        self.doc.events.connect("active", self._on_doc_active)
        self.dataset: DatasetIndex | None = None
        self.library = LatentLibrary()
        self._applying = False
        self._working = ""           # the working view last resolved for
        self._scrub_start: int | None = None  # slider value when a drag began
        self._build_ui()
        self._scrub_timer = QTimer(self, singleShot=True, interval=15)
        self._scrub_timer.timeout.connect(self._submit_scrub)
        self._refresh_models()
        if self.library.problem:
            QTimer.singleShot(0, lambda: self.error.emit(self.library.problem, ""))

    # The state, as the view and tests read it.
    slots = property(lambda self: self.doc.slots)
    active = property(lambda self: self.doc.active)
    model = property(lambda self: self.doc.model)
    mode = property(lambda self: self.doc.mode)
    steps = property(lambda self: self.doc.steps)
    seed = property(lambda self: self.doc.seed)
    scrub = property(lambda self: self.doc.scrub)
    pad_uv = property(lambda self: self.doc.pad_uv)
    arith_latent = property(lambda self: self.doc.arith_latent)

    # -- layout ---------------------------------------------------------------------------

    def _build_ui(self) -> None:
        self.model_combo = ModelCombo("Latent models: the shipped VAEs and checkpoints you open")
        self.mode_combo = QComboBox()
        self.mode_combo.addItems(["slerp", "linear"])
        self.mode_combo.setToolTip("Spherical (keeps latent norms) or linear interpolation")
        self.steps_spin = QSpinBox(minimum=2, maximum=64, value=self.steps)
        self.steps_spin.setToolTip("Frames in the strip")
        self.seed_spin = QSpinBox(minimum=0, maximum=2**31 - 1, value=self.seed)
        self.seed_spin.setToolTip("Seed of the next random sample")
        top = QHBoxLayout()
        for label, w in (("Model", self.model_combo), ("Path", self.mode_combo),
                         ("Steps", self.steps_spin), ("Seed", self.seed_spin)):
            top.addWidget(QLabel(label))
            top.addWidget(w)
        top.addStretch(1)
        self.note_label = QLabel()
        self.note_label.setStyleSheet("color: #555;")
        top.addWidget(self.note_label)

        # Slots row, with the actions that fill the active slot.
        slot_box = QGroupBox("Endpoints — click a slot, then fill it")
        grid = QGridLayout(slot_box)
        self.slot_views: list[ImageView] = []
        for i, s in enumerate(SLOTS):
            v = ImageView(minimum=96, caption=s)
            v.placeholder = "empty"
            v.clicked.connect(lambda i=i: self.set_active(i))
            v.hovered.connect(self.note_label.setText)
            grid.addWidget(v, 0, i)
            self.slot_views.append(v)
        buttons = QHBoxLayout()
        self.open_button = QPushButton("Open…")
        self.paste_button = QPushButton("Paste")
        self.random_button = QPushButton("Random")
        self.save_slot_button = QPushButton("Keep in library")
        self.clear_button = QPushButton("Clear")
        for b, tip in ((self.open_button, "Open an image file into the active slot (Ctrl+O)"),
                       (self.paste_button, "Paste an image from the clipboard (Ctrl+V)"),
                       (self.random_button, "A sample from the prior with the seed (R)"),
                       (self.save_slot_button, "Name the active slot's latent and keep it"),
                       (self.clear_button, "Empty the active slot")):
            b.setToolTip(tip)
            buttons.addWidget(b)
        grid.addLayout(buttons, 1, 0, 1, len(SLOTS))

        # Scrub: big frame, slider, strip.
        self.frame_view = ImageView(minimum=220, caption="A → B")
        self.frame_view.placeholder = "Fill slots A and B to morph between them"
        self.frame_view.hovered.connect(self.note_label.setText)
        self.scrub_slider = QSlider(Qt.Orientation.Horizontal)
        self.scrub_slider.setRange(0, SCRUB_MAX)
        self.scrub_slider.setValue(self.scrub)
        self.scrub_slider.setToolTip("Drag to morph from A to B")
        self.strip_views: list[ImageView] = []
        self.strip_row = QHBoxLayout()
        self.strip_row.setSpacing(2)
        scrub_box = QWidget()
        sl = QVBoxLayout(scrub_box)
        sl.addWidget(self.frame_view, 1)
        srow = QHBoxLayout()
        srow.addWidget(QLabel("A"))
        srow.addWidget(self.scrub_slider, 1)
        srow.addWidget(QLabel("B"))
        sl.addLayout(srow)
        sl.addLayout(self.strip_row)
        export_row = QHBoxLayout()
        self.export_strip_button = QPushButton("Export strip…")
        self.export_gif_button = QPushButton("Export GIF…")
        self.copy_button = QPushButton("Copy frame")
        self.copy_button.setToolTip("Copy the current frame to the clipboard (Ctrl+Shift+C)")
        self.keep_frame_button = QPushButton("Keep frame latent")
        self.inpaint_button = QPushButton("Frame to Inpainting")
        self.inpaint_button.setToolTip("Open the current frame in the Inpainting panel")
        self.send_button = QPushButton("Send samples to evaluation")
        self.send_button.setToolTip("Decode 256 prior samples (from the seed) into a folder "
                                    "and open it in the Evaluation panel's metrics")
        self.export_scale_combo = QComboBox()
        for k in EXPORT_SCALES:
            self.export_scale_combo.addItem(f"{k}×", k)
        self.export_scale_combo.setCurrentIndex(EXPORT_SCALES.index(4))
        self.export_scale_combo.setToolTip("Export size: each 64-pixel frame enlarged this "
                                           "many times")
        self.export_smooth_check = QCheckBox("smooth")
        self.export_smooth_check.setToolTip("Enlarge smoothly (bicubic) instead of in pixel "
                                            "blocks")
        for b in (self.export_strip_button, self.export_gif_button):
            export_row.addWidget(b)
        export_row.addWidget(QLabel("size"))
        export_row.addWidget(self.export_scale_combo)
        export_row.addWidget(self.export_smooth_check)
        export_row.addStretch(1)
        sl.addLayout(export_row)
        # Two rows, so the panel fits a 1000-pixel window whatever the fonts.
        frame_row = QHBoxLayout()
        for b in (self.copy_button, self.keep_frame_button, self.inpaint_button,
                  self.send_button):
            frame_row.addWidget(b)
        frame_row.addStretch(1)
        sl.addLayout(frame_row)

        # Right: pad, arithmetic, library, data set browser.
        self.side_tabs = QTabWidget()
        pad_page = QWidget()
        pl = QVBoxLayout(pad_page)
        self.pad = PadCanvas()
        self.pad_view = ImageView(minimum=140, caption="pad blend")
        self.pad_view.placeholder = "Fill A, B, C and D"
        self.keep_pad_button = QPushButton("Keep pad latent")
        pl.addWidget(QLabel("Corners: A top-left, B top-right, C bottom-left, D bottom-right"))
        pl.addWidget(self.pad, 1)
        pl.addWidget(self.pad_view, 1)
        pl.addWidget(self.keep_pad_button)
        self.side_tabs.addTab(pad_page, "2-D pad")

        arith_page = QWidget()
        al = QVBoxLayout(arith_page)
        al.addWidget(QLabel("Result = A − B + C\ne.g. bold A − regular A + regular g"))
        self.arith_button = QPushButton("Compute A − B + C")
        self.arith_view = ImageView(minimum=140, caption="A − B + C")
        self.arith_view.placeholder = "Fill A, B and C"
        self.arith_to_d_button = QPushButton("Put result in D")
        self.keep_arith_button = QPushButton("Keep result latent")
        for w in (self.arith_button, self.arith_view, self.arith_to_d_button,
                  self.keep_arith_button):
            al.addWidget(w)
        self.side_tabs.addTab(arith_page, "Arithmetic")

        lib_page = QWidget()
        ll = QVBoxLayout(lib_page)
        self.library_list = QListWidget()
        self.library_list.setIconSize(QSize(48, 48))
        self.library_list.setToolTip("Double-click to load into the active slot")
        lrow = QHBoxLayout()
        self.lib_load_button = QPushButton("Load")
        self.lib_rename_button = QPushButton("Rename…")
        self.lib_delete_button = QPushButton("Delete")
        for b in (self.lib_load_button, self.lib_rename_button, self.lib_delete_button):
            lrow.addWidget(b)
        ll.addWidget(self.library_list, 1)
        ll.addLayout(lrow)
        self.side_tabs.addTab(lib_page, "Library")

        data_page = QWidget()
        dl = QVBoxLayout(data_page)
        form = QFormLayout()
        self.data_combo = QComboBox()
        self.data_combo.addItems(["glyphs", "emoji"])
        self.search_edit = QLineEdit()
        self.search_edit.setPlaceholderText("e.g.  g bold   ·   Noto Serif   ·   cat   ·   Flags")
        self.search_edit.setClearButtonEnabled(True)
        form.addRow("Data set", self.data_combo)
        form.addRow("Search", self.search_edit)
        dl.addLayout(form)
        self.data_list = QListWidget()
        self.data_list.setViewMode(QListWidget.ViewMode.IconMode)
        self.data_list.setIconSize(QSize(48, 48))
        self.data_list.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.data_list.setUniformItemSizes(True)
        self.data_list.setToolTip("Double-click to put into the active slot")
        dl.addWidget(self.data_list, 1)
        self.data_status = QLabel()
        self.data_status.setWordWrap(True)
        dl.addWidget(self.data_status)
        self.build_button = QPushButton("Build the data set")
        self.build_button.setVisible(False)
        self.build_button.clicked.connect(lambda: self.build_data())
        dl.addWidget(self.build_button)
        self.side_tabs.addTab(data_page, "Data set")

        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 0, 0)
        lv.addWidget(slot_box)
        lv.addWidget(scrub_box, 1)
        split = QSplitter()
        split.addWidget(left)
        split.addWidget(self.side_tabs)
        split.setSizes([760, 420])
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(split, 1)

        self.model_combo.currentIndexChanged.connect(self._on_model_combo_changed)
        self.mode_combo.currentTextChanged.connect(
            lambda v: self._push_param("mode", self.mode, v))
        self.steps_spin.valueChanged.connect(lambda v: self._push_param("steps", self.steps, v))
        self.seed_spin.valueChanged.connect(lambda v: self._push_param("seed", self.seed, v))
        self.scrub_slider.valueChanged.connect(self._on_scrub_slider_changed)
        self.scrub_slider.sliderReleased.connect(self._on_scrub_slider_released)
        self.open_button.clicked.connect(self._on_open_clicked)
        self.paste_button.clicked.connect(self.paste)
        self.random_button.clicked.connect(self.fill_random)
        self.save_slot_button.clicked.connect(self._on_keep_slot_clicked)
        self.clear_button.clicked.connect(
            lambda: self.undo_stack.push(SetSlotCommand(self, self.active, None)))
        self.export_strip_button.clicked.connect(lambda: self.export("strip"))
        self.export_gif_button.clicked.connect(lambda: self.export("gif"))
        self.copy_button.clicked.connect(self.copy_frame)
        self.inpaint_button.clicked.connect(self.frame_to_inpainting)
        self.send_button.clicked.connect(lambda: self.send_samples())
        self.keep_frame_button.clicked.connect(lambda: self._keep(self.scrub_latent(), "frame"))
        self.pad.moved.connect(self._on_pad_moved)
        self.keep_pad_button.clicked.connect(lambda: self._keep(self.pad_latent(), "pad"))
        self.arith_button.clicked.connect(self.compute_arithmetic)
        self.arith_to_d_button.clicked.connect(self._on_arith_to_d_clicked)
        self.keep_arith_button.clicked.connect(lambda: self._keep(self.arith_latent, "A-B+C"))
        self.library_list.itemDoubleClicked.connect(lambda _: self.load_from_library())
        self.lib_load_button.clicked.connect(self.load_from_library)
        self.lib_rename_button.clicked.connect(self._on_lib_rename_clicked)
        self.lib_delete_button.clicked.connect(self._on_lib_delete_clicked)
        self.data_combo.currentTextChanged.connect(self.load_dataset)
        self.search_edit.textChanged.connect(lambda _: self._search_timer.start())
        self.data_list.itemDoubleClicked.connect(self._on_data_item_activated)
        self._search_timer = QTimer(self, singleShot=True, interval=200)
        self._search_timer.timeout.connect(self._fill_data_list)
        self.add_shortcut("Ctrl+V", self.paste, "Paste a picture into the active slot")
        self.add_shortcut("Ctrl+Shift+C", self.copy_frame, "Copy the current frame")
        self.add_shortcut("R", self.fill_random, "Random sample into the active slot")
        for i, s in enumerate(SLOTS):
            self.add_shortcut(s, lambda i=i: self.set_active(i), f"Make slot {s} active")
        self.set_active(0)
        self._refresh_library()

    # -- models ---------------------------------------------------------------------------

    def _refresh_models(self) -> None:
        infos = self.ctx.registry.infos(Capability.LATENT)
        self.doc.model = self.model_combo.set_models(infos, self.model)
        if not infos:
            self.frame_view.placeholder = ("No latent model is registered. Retrain the shipped "
                                           "VAEs (make train) or open a checkpoint.")
            self.frame_view.update()
        self._sync_dataset_choice()

    def backend_changed(self) -> None:
        self._refresh_models()
        self._resolve_all()

    def info(self):
        """The info of the model the jobs use (:attr:`working`)."""
        return self.ctx.registry.info(self.working) if self.model else None

    @property
    def working(self) -> str:
        """The model every job uses: the chosen one, or, for a model that takes pictures at
        their own size (Stable Diffusion's VAE), its view at the size of the first slot
        holding a picture (A first; other pictures are fitted to it), or DEFAULT_SIDE
        square when only seeds and latents fill the slots."""
        if not self.model:
            return ""
        reg = self.ctx.registry
        if Capability.ANY_SIZE not in reg.info(self.model).capabilities:
            return self.model
        first = next((s.source for s in self.slots if s is not None and s.source is not None),
                     None)
        h, w = first.shape[:2] if first is not None else (DEFAULT_SIDE, DEFAULT_SIDE)
        return reg.sized(self.model, h, w)

    def _working_changed(self) -> bool:
        """Whether the working view moved (a new first picture); says where it works now."""
        working = self.working
        if working == self._working:
            return False
        self._working = working
        if working != self.model and working:
            h, w = self.ctx.registry.info(working).image_shape[:2]
            self.message.emit(f"{self.model} works at {w}x{h} here: the size of the first "
                              "picture (A first); other pictures are fitted to it")
        return True

    def _on_model_combo_changed(self, index: int) -> None:
        name = self.model_combo.itemData(index)
        if name and name != self.model:
            self._push_param("model", self.model, name)

    def _sync_dataset_choice(self) -> None:
        info = self.info()
        if info is not None and info.image_shape:
            want = "glyphs" if info.image_shape[-1] == 1 else "emoji"
            if self.data_combo.currentText() != want:
                self.data_combo.setCurrentText(want)

    # -- parameters and undo --------------------------------------------------------------

    def _push_param(self, name: str, old: Any, new: Any) -> None:
        if self._applying or old == new:
            return
        self.undo_stack.push(ParamCommand(self._apply_param, name, old, new))

    def _apply_param(self, name: str, value: Any) -> None:
        self._applying = True
        try:
            self.doc.set_param(name, value)
            if name == "mode":
                self.mode_combo.setCurrentText(value)
            elif name == "steps":
                self.steps_spin.setValue(value)
            elif name == "seed":
                self.seed_spin.setValue(value)
            elif name == "scrub":
                self.scrub_slider.setValue(value)
            elif name == "model":
                if value in self.model_combo.names():
                    self.model_combo.select(value)
                self._sync_dataset_choice()
        finally:
            self._applying = False
        if name == "model":
            self._resolve_all()
            self._refresh_library()
        elif name in ("mode", "steps", "scrub"):
            self._render()

    def _on_scrub_slider_changed(self, value: int) -> None:
        if self._applying:
            return
        if self._scrub_start is None:
            self._scrub_start = self.scrub
        self.doc.scrub = value       # one undo step per drag: pushed on release
        # Throttle: at most one decode submitted per 15 ms; latest-wins drops the rest.
        if not self._scrub_timer.isActive():
            self._scrub_timer.start()
        if not self.scrub_slider.isSliderDown():
            self._on_scrub_slider_released()

    def _on_scrub_slider_released(self) -> None:
        start, self._scrub_start = self._scrub_start, None
        if start is not None and start != self.scrub:
            self.undo_stack.push(ParamCommand(self._apply_param, "scrub", start, self.scrub))

    # -- slots ----------------------------------------------------------------------------

    def set_active(self, index: int) -> None:
        self.doc.set_active(index)

    def _on_doc_active(self, index: int) -> None:
        for i, v in enumerate(self.slot_views):
            v.highlight = i == index
            v.update()

    def set_slot(self, index: int, slot: Slot | None) -> None:
        """Fill a slot (undoable); its latent is computed in the background."""
        self.undo_stack.push(SetSlotCommand(self, index, slot))

    def _apply_slot(self, index: int, slot: Slot | None) -> None:
        self.doc.set_slot(index, slot)

    def _on_doc_slot(self, index: int) -> None:
        slot = self.slots[index]
        view = self.slot_views[index]
        view.caption = f"{SLOTS[index]}: {slot.label}" if slot else SLOTS[index]
        if slot is None:
            view.set_image(None)
        elif slot.source is not None:
            view.set_image(slot.source)        # until the model's framing of it is back
        if slot is not None and slot.note:
            self.message.emit(f"{SLOTS[index]}: {slot.note}")
        if self._working_changed():
            self._resolve_all()
        elif slot is None:
            self._render()
        else:
            self._resolve(index)

    def _resolve(self, index: int) -> None:
        slot = self.slots[index]
        if slot is None or not self.model:
            return
        if slot.kind == "latent":
            size = self.info().latent_size
            if len(slot.latent) != size:
                self.error.emit(f"{SLOTS[index]} holds a {len(slot.latent)}-d latent; "
                                f"{self.working} needs {size}-d", "")
            self._show_slot_latent(index, slot)
            self._render()
            return
        model = self.working
        self.ctx.jobs.submit(
            f"latent-resolve-{index}", resolve_latent, self.ctx.registry, model, slot,
            label=f"Encoding {SLOTS[index]}",
            # An encoder that fits by optimisation (a StyleGAN pickle) shows its fit as it goes.
            on_preview=lambda p, i=index: self.slot_views[i].set_image(
                to_uint8(np.asarray(p)[None])[0]),
            on_result=lambda z, i=index, s=slot, m=model: self._on_slot_latent(i, s, m, z),
            on_error=self.error.emit)

    def _resolve_all(self) -> None:
        self._working_changed()
        for i in range(len(SLOTS)):
            self._resolve(i)
        if not any(self.slots):
            self._render()

    def _on_slot_latent(self, index: int, slot: Slot, model: str,
                        result: tuple[np.ndarray, np.ndarray | None, str, str]) -> None:
        z, shown, framing, warning = result
        if model != self.working or not self.doc.set_latent(index, slot, z):
            return
        if shown is None:
            self._show_slot_latent(index, self.slots[index])
        else:
            # The picture as the model received it (framed, sized, gray or RGB), drawn like
            # the model's decodes.
            self.slot_views[index].set_image(shown)
            if framing:
                self.message.emit(f"{SLOTS[index]}: {framing}")
        if warning:
            self.error.emit(f"{SLOTS[index]}: {warning}", "")
        self._render()

    def _show_slot_latent(self, index: int, slot: Slot) -> None:
        """Thumbnails of slots without a picture are their decoded latent."""
        if slot.latent is None or len(slot.latent) != self.info().latent_size:
            return
        self.ctx.jobs.submit(
            f"latent-thumb-{index}", decode_rgb, self.ctx.registry, self.working,
            slot.latent[None], label=f"Decoding {SLOTS[index]}",
            on_result=lambda rgb, i=index, s=slot: self._on_thumb(i, s, rgb))

    def _on_thumb(self, index: int, slot: Slot, rgb: np.ndarray) -> None:
        if self.slots[index] is not None and self.slots[index].label == slot.label:
            self.slot_views[index].set_image(rgb[0])

    def latent_of(self, index: int) -> np.ndarray | None:
        slot = self.slots[index]
        info = self.info()
        if slot is None or slot.latent is None or info is None:
            return None
        return slot.latent if len(slot.latent) == info.latent_size else None

    def fill_random(self) -> None:
        seed = self.seed
        self.undo_stack.beginMacro(f"Random sample into {SLOTS[self.active]}")
        self.set_slot(self.active, Slot("random", f"seed {seed}", seed=seed))
        self.seed_spin.setValue(seed + 1)
        self.undo_stack.endMacro()

    def fill_image(self, rgb: np.ndarray, label: str, note: str = "") -> None:
        self.set_slot(self.active, Slot("image", label, source=rgb, note=note))

    def open_file(self, path: str) -> None:
        if not path:
            return
        if Path(path).suffix.lower() in (".safetensors", ".pt", ".pth", ".ckpt", ".json",
                                         ".pkl", ".bin", ".yaml") \
                or Path(path).is_dir():     # a diffusers folder, or a file in one
            self._open_checkpoint(path)
            return
        label = Path(path).stem[:24]
        index = self.active
        self.ctx.jobs.submit(
            f"latent-read-{index}", read_picture, path, lane="io", label=f"Reading {label}",
            on_result=lambda r, i=index: self._on_picture_read(i, r, label),
            on_error=self.error.emit)

    def _on_picture_read(self, index: int, result: tuple[np.ndarray, str], label: str) -> None:
        rgb, note = result
        self.set_slot(index, Slot("image", label, source=rgb, note=note))

    def _open_checkpoint(self, path: str) -> None:
        self.register_checkpoint(path)

    def register_checkpoint(self, path: str,
                            then: Callable[[BackendInfo], None] | None = None) -> None:
        """A checkpoint opened here (File > Open Checkpoint too) drives the panel at once;
        a Stable Diffusion checkpoint is read for its VAE."""
        super().register_checkpoint(path, then or self._on_checkpoint_loaded)

    def _on_checkpoint_loaded(self, info: BackendInfo) -> None:
        if Capability.LATENT not in info.capabilities:
            self.error.emit(f"{info.name} has no latent space; it cannot drive this panel", "")
            return
        self._push_param("model", self.model, info.name)

    def _on_open_clicked(self) -> None:
        path = dialogs.open_file(self, "picture", "Open image", IMAGE_FILTER)
        if path:
            self.open_file(path)

    def paste(self) -> None:
        """Put the clipboard's image (or an image file it names) into the active slot."""
        arr, path, why = clipboard_picture()
        if arr is not None:
            self.fill_image(keep_source(Image.fromarray(arr)), "pasted",
                            note="pasted from the clipboard")
        elif path:
            self.open_file(path)
        else:
            self.error.emit(why, "")

    # -- rendering ------------------------------------------------------------------------

    def scrub_latent(self) -> np.ndarray | None:
        a, b = self.latent_of(0), self.latent_of(1)
        if a is None or b is None:
            return None
        return interpolate(a, b, self.scrub / SCRUB_MAX, self.mode)

    def pad_latent(self) -> np.ndarray | None:
        zs = [self.latent_of(i) for i in range(4)]
        if any(z is None for z in zs):
            return None
        return bilinear(np.stack(zs), *self.pad_uv)

    def _render(self) -> None:
        self._submit_scrub()
        self._submit_strip()
        self._submit_pad()
        ready = self.latent_of(0) is not None and self.latent_of(1) is not None
        for b in (self.export_strip_button, self.export_gif_button, self.copy_button,
                  self.keep_frame_button, self.inpaint_button):
            b.setEnabled(ready)
        self.arith_button.setEnabled(all(self.latent_of(i) is not None for i in range(3)))

    def _submit_scrub(self) -> None:
        z = self.scrub_latent()
        if z is None:
            self.frame_view.set_image(None)
            return
        self.ctx.jobs.submit("latent-scrub", decode_with_tag, self.ctx.registry, self.working,
                             z[None], (self.scrub, time.perf_counter()), label="Decoding frame",
                             on_result=self._on_scrub_frame, on_error=self.error.emit,
                             on_preview=self._on_scrub_preview)

    def _on_scrub_preview(self, preview: np.ndarray | None) -> None:
        """A model whose decode takes seconds (SD's VAE on a CPU) shows a cheap preview of the
        frame while the full decode runs."""
        if preview is not None:
            self.frame_view.caption = (f"A → B  t = {self.scrub / SCRUB_MAX:.3f}  preview, "
                                       "decoding…")
            self.frame_view.set_image(to_uint8(np.asarray(preview)[None])[0])

    def _on_scrub_frame(self, result: tuple[tuple[int, float], np.ndarray]) -> None:
        (position, _), rgb = result
        size = "" if self.working == self.model else f"  {rgb.shape[2]}x{rgb.shape[1]}"
        self.frame_view.caption = f"A → B  t = {position / SCRUB_MAX:.3f}  ({self.mode}){size}"
        self.frame_view.set_image(rgb[0])
        self.frame_shown.emit(position)

    def _submit_strip(self) -> None:
        a, b = self.latent_of(0), self.latent_of(1)
        if a is None or b is None:
            self._set_strip(None)
            return
        self.ctx.jobs.submit("latent-strip", decode_rgb, self.ctx.registry, self.working,
                             path(a, b, self.steps, self.mode), label="Decoding strip",
                             on_result=self._set_strip, on_error=self.error.emit)

    def _set_strip(self, frames: np.ndarray | None) -> None:
        n = 0 if frames is None else len(frames)
        while len(self.strip_views) < n:
            v = ImageView(minimum=40)
            v.setMaximumHeight(110)
            v.clicked.connect(lambda v=v: self._on_strip_clicked(v))
            self.strip_row.addWidget(v)
            self.strip_views.append(v)
        for i, v in enumerate(self.strip_views):
            v.setVisible(i < n)
            if i < n:
                v.set_image(frames[i])
                v.setProperty("t", i / max(n - 1, 1))

    def _on_strip_clicked(self, view: ImageView) -> None:
        self.scrub_slider.setValue(round(float(view.property("t")) * SCRUB_MAX))

    def _on_pad_moved(self, u: float, v: float) -> None:
        self.doc.set_pad(u, v)
        self._submit_pad()

    def _submit_pad(self) -> None:
        z = self.pad_latent()
        if z is None:
            self.pad_view.set_image(None)
            return
        self.ctx.jobs.submit("latent-pad", decode_rgb, self.ctx.registry, self.working, z[None],
                             label="Decoding pad", on_error=self.error.emit,
                             on_result=lambda rgb: self._on_pad_frame(rgb))

    def _on_pad_frame(self, rgb: np.ndarray) -> None:
        u, v = self.pad_uv
        self.pad_view.caption = f"pad  u = {u:.2f}, v = {v:.2f}"
        self.pad_view.set_image(rgb[0])

    def compute_arithmetic(self) -> None:
        zs = [self.latent_of(i) for i in range(3)]
        if any(z is None for z in zs):
            self.error.emit("Arithmetic needs A, B and C", "")
            return
        self.doc.arith_latent = arithmetic(*zs)
        self.ctx.jobs.submit("latent-arith", decode_rgb, self.ctx.registry, self.working,
                             self.arith_latent[None], label="Decoding A − B + C",
                             on_result=lambda rgb: self.arith_view.set_image(rgb[0]),
                             on_error=self.error.emit)

    def _on_arith_to_d_clicked(self) -> None:
        if self.arith_latent is not None:
            self.set_slot(3, Slot("latent", "A−B+C", latent=self.arith_latent))

    # -- library --------------------------------------------------------------------------

    def _keep(self, z: np.ndarray | None, default: str) -> str | None:
        if z is None:
            self.error.emit("Nothing to keep yet: fill the slots it needs first", "")
            return None
        name, ok = QInputDialog.getText(self, "Keep latent", "Name:",
                                        text=self.library.unique_name(default))
        if not ok:
            return None
        return self.keep_latent(name, z, default)

    def keep_latent(self, name: str, z: np.ndarray, source: str = "",
                    model: str | None = None) -> str:
        name = self.library.add(name, model or self.working, z, source)
        self._refresh_library()
        self.message.emit(f"Kept '{name}' in the latent library")
        return name

    def _on_keep_slot_clicked(self) -> None:
        slot = self.slots[self.active]
        self._keep(self.latent_of(self.active), slot.label if slot else "slot")

    def _refresh_library(self) -> None:
        self.library_list.clear()
        info = self.info()
        fitting: list[str] = []
        for name, e in self.library.entries.items():
            item = QListWidgetItem(f"{name}   [{e['model']}, {len(e['latent'])}-d]")
            item.setData(Qt.ItemDataRole.UserRole, name)
            fits = info is not None and len(e["latent"]) == info.latent_size
            if fits:
                fitting.append(name)
            else:
                item.setForeground(Qt.GlobalColor.gray)
                item.setToolTip("Its size does not fit the current model")
            self.library_list.addItem(item)
        if fitting:
            # Thumbnails: every fitting latent decoded by the current model, in one batch.
            latents = np.stack([np.asarray(self.library.latent(n), np.float32)
                                for n in fitting])
            self.ctx.jobs.submit(
                "latent-library-thumbs", decode_with_tag, self.ctx.registry, self.working,
                latents, (self.working, tuple(fitting)), label="Drawing library thumbnails",
                on_result=self._on_library_thumbs)

    def _on_library_thumbs(self, result: tuple[tuple[str, tuple[str, ...]], np.ndarray]
                           ) -> None:
        (model, names), rgb = result
        if model != self.working:
            return
        icons = dict(zip(names, rgb))
        for row in range(self.library_list.count()):
            item = self.library_list.item(row)
            name = item.data(Qt.ItemDataRole.UserRole)
            if name in icons:
                item.setIcon(QIcon(QPixmap.fromImage(to_qimage(icons[name]))))

    def _selected_library_name(self) -> str | None:
        item = self.library_list.currentItem()
        return None if item is None else item.data(Qt.ItemDataRole.UserRole)

    def restore_recipe(self, recipe: Any, note: str = "") -> None:
        """An exported morph's recipe (or a 'latent-studio interpolate'): its model, mode and
        the two ends (latents, seeds or pictures) in slots A and B."""
        if recipe.task != "interpolate":
            self.error.emit(f"a {recipe.task} is not restored in the Latent Explorer: "
                            "'latent-studio replay' makes it again", "")
            return
        self.ctx.jobs.submit(f"{self.name}-restore", restore_ends, self.ctx.registry, recipe,
                             lane="io", label="Opening the recipe's model and ends",
                             on_result=lambda r: self._restored(recipe, *r, note=note),
                             on_error=self.error.emit)

    def _restored(self, recipe: Any, model: str, ends: list[Slot], note: str = "") -> None:
        self.begin_restore(model)
        self._push_param("model", self.model, model)
        self._push_param("mode", self.mode, str(recipe.params.get("mode", self.mode)))
        for index, slot in enumerate(ends):
            self.set_slot(index, slot)
        self.undo_stack.endMacro()
        self.message.emit(f"Restored the recipe's ends with {model}")
        if note:
            self.error.emit(f"Restored, but {note}", "")

    def receive_latent(self, model: str, latent: Any, label: str) -> None:
        """Another panel's latent (a Style Mixer cell) into the active slot, under its model."""
        if model not in self.model_combo.names():
            self.error.emit(f"{model} has no latent space here", "")
            return
        if model != self.model:
            self._push_param("model", self.model, model)
        self.set_slot(self.active, Slot("latent", label,
                                        latent=np.asarray(latent, np.float32)))
        self.message.emit(f"{label} is in slot {SLOTS[self.active]}")

    def load_from_library(self, name: str | None = None) -> None:
        name = name or self._selected_library_name()
        if name is None:
            return
        self.set_slot(self.active, Slot("latent", name, latent=self.library.latent(name)))

    def _on_lib_rename_clicked(self) -> None:
        old = self._selected_library_name()
        if old is None:
            return
        new, ok = QInputDialog.getText(self, "Rename latent", "Name:", text=old)
        if ok and new.strip() and new != old:
            self.library.rename(old, new)
            self._refresh_library()

    def _on_lib_delete_clicked(self) -> None:
        name = self._selected_library_name()
        if name is not None:
            self.library.remove(name)
            self._refresh_library()

    # -- data set browser -----------------------------------------------------------------

    def load_dataset(self, name: str | None = None) -> None:
        name = name or self.data_combo.currentText()
        self.data_status.setText(f"Loading the {name} data set…")
        self.build_button.setVisible(False)
        self.ctx.jobs.submit("latent-dataset", open_dataset, name, lane="io",
                             label=f"Loading {name}",
                             on_result=lambda index, n=name: self._on_dataset_loaded(n, index),
                             on_error=lambda m, d: self.data_status.setText(m))

    def _on_dataset_loaded(self, name: str, index: DatasetIndex | None) -> None:
        self.dataset = index
        if index is None:
            # Not an error: a fresh install has not built it yet. Offer to.
            self.data_list.clear()
            self.data_status.setText(
                f"The {name} data set is not built yet. Build it here (a background job; "
                f"Cancel stops it) or run 'latent-studio data build {name}'. Meanwhile, "
                "open your own pictures or press Random.")
            self.build_button.setText(f"Build the {name} data set")
            self.build_button.setVisible(True)
            return
        self._fill_data_list()

    def build_data(self, name: str | None = None) -> None:
        """Build a data set (default: the chosen one) in the long lane, then browse it."""
        name = name or self.data_combo.currentText()
        self.build_button.setEnabled(False)
        self.data_status.setText(f"Building the {name} data set…")

        def done(summary: dict) -> None:
            self.build_button.setEnabled(True)
            self.message.emit(f"Built the {name} data set: {summary_text(summary)}")
            self.load_dataset(name)

        def failed(message: str, details: str) -> None:
            self.build_button.setEnabled(True)
            self.data_status.setText(f"The {name} data set could not be built: {message}")
            self.error.emit(message, details)

        self.ctx.jobs.submit("latent-dataset-build", build_dataset, name, lane="long",
                             label=f"Building the {name} data set",
                             on_progress=lambda f: self.data_status.setText(
                                 f"Building the {name} data set… {f:.0%}"),
                             on_result=done, on_error=failed)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().showEvent(event)
        if self.dataset is None and not self.ctx.jobs.is_busy("latent-dataset"):
            self.load_dataset()

    def _fill_data_list(self) -> None:
        self.data_list.clear()
        if self.dataset is None:
            return
        hits = self.dataset.search(self.search_edit.text())
        for i in hits:
            rgb = to_uint8(self.dataset.image(i)[None])[0]
            item = QListWidgetItem(QIcon(QPixmap.fromImage(to_qimage(rgb))), "")
            item.setToolTip(self.dataset.labels[i] + f"  [{self.dataset.splits[i]}]")
            item.setData(Qt.ItemDataRole.UserRole, int(i))
            self.data_list.addItem(item)
        total = len(self.dataset.labels)
        shown = f"{len(hits)} shown" + (" (first matches)" if len(hits) >= 240 else "")
        self.data_status.setText(f"{self.dataset.name}: {total} images; {shown}. "
                                 "Double-click one to fill the active slot.")

    def _on_data_item_activated(self, item: QListWidgetItem) -> None:
        self.fill_dataset_item(int(item.data(Qt.ItemDataRole.UserRole)))

    def fill_dataset_item(self, i: int) -> None:
        assert self.dataset is not None
        rgb = to_uint8(self.dataset.image(i)[None], invert_gray=False)[0]
        label = self.dataset.labels[i].split("(")[0].strip()[:24]
        self.fill_image(rgb, label)

    # -- export ---------------------------------------------------------------------------

    def export(self, kind: str = "") -> None:
        a, b = self.latent_of(0), self.latent_of(1)
        if a is None or b is None:
            self.error.emit("Fill A and B before exporting a morph", "")
            return
        filters = {"strip": "Strip (*.png)", "gif": "Animated GIF (*.gif)"}
        chosen = filters.get(kind, f"{filters['strip']};;{filters['gif']}")
        out, used = dialogs.save_file_as(self, "picture", "Export morph", "", chosen)
        if out:
            self.export_to(out, "gif" if used == filters["gif"] else "strip")

    def export_to(self, out: str, kind: str = "") -> None:
        """Write the strip (.png) or the scrub as an animated GIF (.gif), enlarged by the
        chosen export size. A name without .png or .gif gets the extension of ``kind``
        (the format chosen in the dialog; a strip when none)."""
        a, b = self.latent_of(0), self.latent_of(1)
        if a is None or b is None:
            self.error.emit("Fill A and B before exporting a morph", "")
            return
        out = with_suffix(out, ".gif" if kind == "gif" else ".png", (".png", ".gif"))
        n = GIF_FRAMES if out.lower().endswith(".gif") else self.steps
        scale = int(self.export_scale_combo.currentData())
        smooth = self.export_smooth_check.isChecked()
        # One key per file: exporting another file must not cancel this one.
        key = f"latent-export:{out}"
        working = self.working
        size = (list(self.ctx.registry.info(working).image_shape[:2])
                if working != self.model else None)
        params = {"a": "latent", "b": "latent", "steps": n, "mode": self.mode,
                  "scale": scale, "smooth": smooth, "size": size}
        thumb = self.frame_view.image()
        self.ctx.jobs.submit(key, export_morph, self.ctx.registry, self.model, working,
                             params, np.asarray(a), np.asarray(b), out, lane="io",
                             label="Exporting",
                             on_result=lambda r: self._exported(r, thumb),
                             on_error=self.error.emit)

    def _exported(self, result: tuple[str, Any], thumb: np.ndarray | None) -> None:
        out, recipe = result
        self.message.emit(f"Exported {out}")
        self.result_made.emit(recipe, thumb, self.title)

    def send_samples(self, n: int = 256, folder: str | None = None) -> None:
        """Decode ``n`` prior samples with the current seed and send the folder on."""
        if not self.model:
            self.error.emit("No latent model to sample from", "")
            return
        if folder is None:
            from PySide6.QtCore import QStandardPaths

            base = QStandardPaths.writableLocation(
                QStandardPaths.StandardLocation.AppDataLocation) or str(Path.home())
            folder = str(Path(base) / "samples" / f"{self.model}-seed{self.seed}")
        model, seed = self.working, self.seed
        self.ctx.jobs.submit(
            "latent-send", write_samples, self.ctx.registry, model, n, seed, folder, lane="long",
            label="Decoding samples for evaluation", on_error=self.error.emit,
            on_result=lambda out: self.send_to_evaluation.emit(
                out, f"{n} samples of {model} (seed {seed})"))

    def frame_to_inpainting(self) -> None:
        rgb = self.frame_view.image()
        if rgb is None:
            self.error.emit("No frame yet", "")
            return
        self.send_picture.emit(rgb.copy(), f"frame of {self.doc.model}")

    def copy_frame(self) -> None:
        rgb = self.frame_view.image()
        if rgb is None:
            self.error.emit("No frame to copy yet", "")
            return
        QGuiApplication.clipboard().setImage(to_qimage(rgb))
        self.message.emit("Frame copied to the clipboard")

    # -- sessions -------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return {**self.doc.to_session(), "library": dict(self.library.entries)}

    def restore_state(self, state: dict[str, Any]) -> None:
        self.library.merge(state.get("library", {}))
        self._refresh_library()
        for name in ("model", "mode", "steps", "seed", "scrub"):
            if name in state:
                if name == "model" and state[name] not in [i.name for i in
                                                           self.ctx.registry.infos()]:
                    self.error.emit(f"The session's model '{state[name]}' is not registered; "
                                    "open its checkpoint first", "")
                    continue
                self._apply_param(name, state[name])
        self.doc.set_pad(*state.get("pad_uv", (0.5, 0.5)))
        self.pad.set_position(*self.pad_uv)
        self.set_active(int(state.get("active", 0)))
        for i, s in enumerate(state.get("slots", [None] * len(SLOTS))):
            self._apply_slot(i, Slot.from_state(s) if s else None)

    def shutdown(self) -> None:
        # Pending throttled decodes must not reach a runner that is shutting down.
        self._scrub_timer.stop()
        self._search_timer.stop()
        super().shutdown()


if __name__ == "__main__":
    from studio.panels.standalone import run_standalone

    raise SystemExit(run_standalone(LatentPanel))
