"""Inpainting: paint a mask over a picture and let a diffusion model repaint it.

The picture comes from a file, a drop, the clipboard, the glyph data set or another panel;
it is framed to the model's size once, then the mask is painted over it (brush, eraser,
rectangle, fill, invert, grow/shrink, feather; every edit undoable). A run goes to the long
lane: the predicted clean image is shown after every network call, Cancel stops within one
and keeps the last preview as a result. Results gather in a history strip with their
options; the selected one is compared with the picture by a before/after slider, exported
as PNG with its options in the metadata, sent to Evaluation, or made the new picture.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QIcon, QPixmap, QUndoCommand
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSlider,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from models.data.browse import DatasetIndex
from models.image import masks as mk
from models.image.io import open_picture, to_uint8
from models.protocol import Capability, JobContext
from models.registry import Registry
from models.samplers.repaint import PRESETS
from models.tasks import generate as gen
from models.tasks import inpaint as ip
from models.tasks.runner import warm_fingerprint
from studio import dialogs
from studio.panels import register_panel
from studio.panels.base import Panel, ParamCommand, StudioContext, ask_png
from studio.panels.latent import IMAGE_FILTER, keep_source, paste_picture
from studio.panels.stylemix import GlyphPicker, open_glyphs
from studio.state.inpaint import PARAMS, TOOLS, HistoryEntry, InpaintState
from studio.widgets.image_view import to_qimage
from studio.widgets.mask_canvas import CompareView, MaskCanvas
from studio.widgets.model_combo import ModelCombo

EXPORT_SCALE = 4          # a 64-pixel result is too small to use
RECENT_KEY = "inpaint/recent_models"     # Stable Diffusion checkpoints used, newest first
PROMPTS_KEY = "inpaint/prompts"          # prompts run, newest first
MAX_RECENT, MAX_PROMPTS = 10, 50


# -- jobs (worker thread; numpy in, numpy out) ----------------------------------------------

def prepare_picture(registry: Registry, model: str, picture: np.ndarray, frame: bool, *,
                    ctx: JobContext) -> tuple[np.ndarray, bool, str]:
    """(the picture as ``model`` takes it, shown dark on light?, a note), by the task the
    CLI uses too (:func:`models.tasks.inpaint.prepare`); ``frame``: the "frame as a glyph"
    option (glyph models only)."""
    prep = ip.prepare(registry, model, Image.fromarray(picture),
                      frame_glyph=frame and ip.can_frame_glyph(registry, model))
    return prep.image, prep.dark_on_light, prep.note


def takes_prompt(registry: Registry, model: str) -> bool:
    """A Stable Diffusion model: any picture size, a prompt, no glyph framing."""
    return bool(model) and Capability.PROMPT in registry.info(model).capabilities


def load_model(registry: Registry, model: str, *, ctx: JobContext) -> str:
    """Load a big model ahead of its first run (the long lane; the window stays live)."""
    ctx.report(0.0)
    registry.get(model, ctx=ctx)
    return model


def run_generate(registry: Registry, model: str, options: gen.GenerateOptions,
                 image: np.ndarray | None, mask: np.ndarray | None, *,
                 ctx: JobContext) -> list[np.ndarray]:
    out = gen.run(registry, model, options, image, mask, ctx=ctx)
    warm_fingerprint(registry, model)
    return out


def run_inpaint(registry: Registry, model: str, image: np.ndarray, mask: np.ndarray,
                options: ip.InpaintOptions, *, ctx: JobContext) -> np.ndarray:
    out = ip.run(registry, model, image, mask, options, ctx=ctx)
    warm_fingerprint(registry, model)
    return out


def restore_inputs(registry: Registry, recipe: Any, frame: bool, *, ctx: JobContext
                   ) -> tuple[str, np.ndarray | None, str, ip.Prepared | None]:
    """What a recipe needs in this panel, read in the io lane: its model registered here
    (opened from its path if need be), its picture and mask as the model takes them."""
    from models.tasks import runner

    name = runner.model_for(registry, recipe)
    roles = {f.role for f in recipe.inputs}
    if "image" in recipe.arrays:               # made in this panel: as the model took it
        image = recipe.arrays["image"].astype(np.float32)
        mask = (recipe.arrays["mask"].astype(np.float32) if "mask" in recipe.arrays else
                mk.empty(*image.shape[:2]))
        rgb = to_uint8(image[None], bool(recipe.params.get("dark_on_light", False)))[0]
        return name, rgb, str(recipe.params.get("source", "")) or "recipe", ip.Prepared(
            image, mask, "", bool(recipe.params.get("dark_on_light", False)))
    if "picture" not in roles:
        return name, None, "", None
    picture = runner.input_path(recipe, "picture")
    img, note = open_picture(picture)
    mask = open_picture(runner.input_path(recipe, "mask"))[0] if "mask" in roles else None
    prep = ip.prepare(registry, name, img, mask, frame and ip.can_frame_glyph(registry, name))
    return name, keep_source(img), picture.name, prep


def read_picture(path: str, *, ctx: JobContext) -> tuple[np.ndarray, str]:
    img, note = open_picture(path)
    return keep_source(img), note


def read_mask(path: str, *, ctx: JobContext) -> np.ndarray:
    img, _ = open_picture(path)
    return ip.mask_from_picture(img)


# -- undo ----------------------------------------------------------------------------------

class MaskCommand(QUndoCommand):
    def __init__(self, doc: InpaintState, old: np.ndarray, new: np.ndarray, what: str
                 ) -> None:
        super().__init__(what)
        self.doc, self.old, self.new = doc, old, new

    def redo(self) -> None:
        self.doc.set_mask(self.new)

    def undo(self) -> None:
        self.doc.set_mask(self.old)


class PictureCommand(QUndoCommand):
    """A new picture (with its mask) in place of the old."""

    def __init__(self, doc: InpaintState, new: tuple, what: str) -> None:
        super().__init__(what)
        self.doc, self.new = doc, new
        self.old = (doc.picture, doc.label_text, doc.image, doc.dark_on_light, doc.mask)

    def redo(self) -> None:
        self.doc.set_picture(*self.new)

    def undo(self) -> None:
        self.doc.set_picture(*self.old)


# -- the panel ------------------------------------------------------------------------------

@register_panel
class InpaintPanel(Panel):
    name = "inpaint"
    title = "Inpainting"
    open_filter = IMAGE_FILTER

    def __init__(self, ctx: StudioContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self.doc = InpaintState()
        self.doc.events.connect("picture", self._on_doc_picture)
        self.doc.events.connect("mask", self._on_doc_mask)
        self.doc.events.connect("param", self._on_doc_param)
        self.doc.events.connect("history", self._on_doc_history)
        self.doc.events.connect("selected", self._on_doc_selected)
        self.glyphs: DatasetIndex | None = None
        self.preview: np.ndarray | None = None     # the running job's last preview
        self._running: tuple | None = None          # (source, mask, options) of the run
        self._started = 0.0                         # when the run began (seconds per step)
        self._kind: bool | None = None              # the model takes a prompt
        self._applying = False
        self._restoring = False         # a session is being restored
        self._build_ui()
        # A cancel from anywhere (Esc, the status bar's Cancel) ends this panel's run too.
        self.ctx.jobs.job_cancelled.connect(self._on_job_cancelled)
        self._refresh_models()
        for name in PARAMS:
            if name != "model":
                self._on_doc_param(name)
        self._on_kind()

    # -- layout ---------------------------------------------------------------------------

    def _build_ui(self) -> None:
        self.model_combo = ModelCombo("Inpainting models: the shipped one and checkpoints "
                                      "you open (a diffusers UNet or pipeline folder too)")
        self.note_label = QLabel()
        self.note_label.setStyleSheet("color: #555;")
        top = QHBoxLayout()
        top.addWidget(QLabel("Model"))
        top.addWidget(self.model_combo)
        self.recent_button = QToolButton(text="Recent")
        self.recent_button.setToolTip("Stable Diffusion checkpoints you used before")
        self.recent_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.recent_menu = QMenu(self.recent_button)
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self.recent_button.setMenu(self.recent_menu)
        top.addWidget(self.recent_button)
        self.open_button = QPushButton("Open…")
        self.open_button.setToolTip("Open a picture (also drop a file on the window)")
        self.paste_button = QPushButton("Paste")
        self.paste_button.setToolTip("The clipboard's picture (Ctrl+V)")
        self.glyph_button = QPushButton("Glyph…")
        self.glyph_button.setToolTip("A glyph from the data set")
        self.mask_button = QPushButton("Mask file…")
        self.mask_button.setToolTip("Load a mask picture (white = repaint, any size)")
        for w in (self.open_button, self.paste_button, self.glyph_button, self.mask_button):
            top.addWidget(w)
        top.addStretch(1)

        # The prompt row (Stable Diffusion models only).
        self.prompt_combo = QComboBox()
        self.prompt_combo.setEditable(True)
        self.prompt_combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.prompt_combo.lineEdit().setPlaceholderText("Prompt: what to paint")
        self.prompt_combo.setToolTip("The prompt; earlier ones are in the list. Paste another "
                                     "tool's parameters text here: the controls fill in")
        self.prompt_combo.lineEdit().installEventFilter(self)
        self.prompt_combo.addItems(self._saved_list(PROMPTS_KEY))
        self.negative_edit = QLineEdit()
        self.negative_edit.setPlaceholderText("Negative prompt: what not to paint")
        self.prompt_row = QWidget()
        pr = QHBoxLayout(self.prompt_row)
        pr.setContentsMargins(0, 0, 0, 0)
        pr.addWidget(QLabel("Prompt"))
        pr.addWidget(self.prompt_combo, 3)
        pr.addWidget(self.negative_edit, 2)

        # Left: the mask tools over the picture.
        self.canvas = MaskCanvas()
        self.canvas.placeholder = ("Open, paste or drop a picture, or pick a glyph; then "
                                   "paint where the model should repaint")
        tools = QHBoxLayout()
        self.tool_group = QButtonGroup(self)
        self.tool_buttons: dict[str, QToolButton] = {}
        keys = {"brush": "B", "eraser": "E", "rectangle": "R", "fill": "F"}
        for i, tool in enumerate(TOOLS):
            b = QToolButton(text=tool.capitalize(), checkable=True)
            b.setToolTip(f"{tool.capitalize()} ({keys[tool]})")
            self.tool_group.addButton(b, i)
            self.tool_buttons[tool] = b
            tools.addWidget(b)
        tools.addStretch(1)
        self.clear_button = QToolButton(text="Clear")
        self.invert_button = QToolButton(text="Invert")
        self.grow_button = QToolButton(text="Grow")
        self.shrink_button = QToolButton(text="Shrink")
        self.soften_button = QToolButton(text="Feather")
        self.soften_button.setToolTip("Soften the mask's edge (2 px)")
        ops = QHBoxLayout()
        for b in (self.clear_button, self.invert_button, self.grow_button, self.shrink_button,
                  self.soften_button):
            ops.addWidget(b)
        ops.addStretch(1)
        brush = QGridLayout()
        self.size_spin = QDoubleSpinBox(minimum=0.5, maximum=32.0, singleStep=0.5,
                                        decimals=1, suffix=" px")
        self.size_spin.setToolTip("Brush radius in the model's pixels ([ and ])")
        self.hardness_slider = QSlider(Qt.Orientation.Horizontal)
        self.hardness_slider.setRange(0, 100)
        self.hardness_slider.setToolTip("Hardness: 100 a sharp edge, 0 a soft one")
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setToolTip("How strongly the mask is shown over the picture")
        brush.addWidget(QLabel("size"), 0, 0)
        brush.addWidget(self.size_spin, 0, 1)
        brush.addWidget(QLabel("hardness"), 0, 2)
        brush.addWidget(self.hardness_slider, 0, 3)
        brush.addWidget(QLabel("overlay"), 1, 2)
        brush.addWidget(self.opacity_slider, 1, 3)
        self.mask_label = QLabel()
        self.mask_label.setStyleSheet("color: #555;")
        brush.addWidget(self.mask_label, 1, 0, 1, 2)
        left = QVBoxLayout()
        left.addLayout(tools)
        left.addWidget(self.canvas, 1)
        left.addLayout(ops)
        left.addLayout(brush)

        # Middle: the result, compared with the picture.
        self.compare = CompareView()
        self.compare.placeholder = "The result appears here, step by step"
        self.compare.caption = "before | after"
        self.split_slider = QSlider(Qt.Orientation.Horizontal)
        self.split_slider.setRange(0, 100)
        self.split_slider.setToolTip("Before / after: slide to uncover the picture as it was")
        self.history_list = QListWidget()
        self.history_list.setViewMode(QListWidget.ViewMode.IconMode)
        self.history_list.setFlow(QListWidget.Flow.LeftToRight)
        self.history_list.setWrapping(False)
        self.history_list.setIconSize(QSize(48, 48))
        self.history_list.setFixedHeight(74)
        self.history_list.setToolTip("Results with their options (hover); click to compare")
        res_buttons = QHBoxLayout()
        self.use_button = QPushButton("Use as picture")
        self.use_button.setToolTip("Continue from this result (the mask is kept)")
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("PNG with the options in its metadata")
        self.to_eval_button = QPushButton("To Evaluation")
        self.to_eval_button.setToolTip("Write every result of the history as PNG and open "
                                       "the folder in the Evaluation panel")
        for b in (self.use_button, self.export_button, self.to_eval_button):
            res_buttons.addWidget(b)
        res_buttons.addStretch(1)
        middle = QVBoxLayout()
        middle.addWidget(self.compare, 1)
        middle.addWidget(self.split_slider)
        middle.addWidget(QLabel("History"))
        middle.addWidget(self.history_list)
        middle.addLayout(res_buttons)

        # Right: sampling.
        box = QGroupBox("Sampling")
        g = QGridLayout(box)
        self.sampler_combo = QComboBox()
        self.sampler_combo.addItems(["ddim", "ddpm"])
        self.sampler_combo.setToolTip("DDIM: deterministic, good in few steps; DDPM: "
                                      "stochastic, needs more steps")
        self.steps_spin = QSpinBox(minimum=1, maximum=1000)
        self.repaint_combo = QComboBox()
        for key in PRESETS:
            self.repaint_combo.addItem(key, key)
        self.repaint_combo.setToolTip("RePaint resampling: the repainted part agrees better "
                                      "with the rest, at a cost in network calls")
        self.cost_label = QLabel()
        self.cost_label.setWordWrap(True)
        self.guidance_spin = QDoubleSpinBox(minimum=0.0, maximum=30.0, singleStep=0.5,
                                            decimals=1)
        self.guidance_spin.setToolTip("Classifier-free guidance with a class: 0 ignores it, "
                                      "1 is the class model, above 1 pushes toward the class")
        self.class_combo = QComboBox()
        self.class_combo.setToolTip("What to paint; none lets the picture decide")
        self.seed_spin = QSpinBox(minimum=0, maximum=2**31 - 1)
        self.dice_button = QToolButton(text="Roll")
        self.dice_button.setToolTip("A random seed")
        self.feather_spin = QDoubleSpinBox(minimum=0.0, maximum=8.0, singleStep=0.5,
                                           decimals=1, suffix=" px")
        self.feather_spin.setToolTip("Width of the blend with the real pixels at the mask's "
                                     "edge (no seams)")
        self.scheduler_combo = QComboBox()
        self.scheduler_combo.addItems(list(gen.SCHEDULER_NAMES))
        self.scheduler_combo.setToolTip("The model's own scheduler (default) or another")
        self.frame_check = QCheckBox("Frame as a glyph")
        self.frame_check.setToolTip(
            "Glyph models: find the glyph in a new picture and frame it as the data set "
            "frames its glyphs (off: the picture is only centre-cropped and resized, as "
            "'latent-studio inpaint' does without --frame-glyph)")
        self.lock_check = QCheckBox("lock")
        self.lock_check.setToolTip("Keep the seed; unlocked, a new one after each run")
        rows = [("sampler", self.sampler_combo), ("scheduler", self.scheduler_combo),
                ("steps", self.steps_spin), ("RePaint", self.repaint_combo),
                ("", self.cost_label), ("guidance", self.guidance_spin),
                ("class", self.class_combo)]
        self._glyph_only: list[QWidget] = []
        self._prompt_only: list[QWidget] = [self.prompt_row, self.lock_check]
        for i, (text, w) in enumerate(rows):
            label = QLabel(text)
            g.addWidget(label, i, 0)
            g.addWidget(w, i, 1, 1, 2)
            if text in ("sampler", "RePaint", "", "class"):
                self._glyph_only += [label, w]
            elif text == "scheduler":
                self._prompt_only += [label, w]
        g.addWidget(QLabel("seed"), len(rows), 0)
        g.addWidget(self.seed_spin, len(rows), 1)
        g.addWidget(self.dice_button, len(rows), 2)
        g.addWidget(self.lock_check, len(rows) + 1, 1)
        feather_label = QLabel("feather")
        g.addWidget(feather_label, len(rows) + 2, 0)
        g.addWidget(self.feather_spin, len(rows) + 2, 1, 1, 2)
        self._glyph_only += [feather_label, self.feather_spin]
        g.addWidget(self.frame_check, len(rows) + 3, 1, 1, 2)
        self.sd_box = self._build_sd_box()
        self._prompt_only.append(self.sd_box)
        self.run_button = QPushButton("Inpaint")
        self.run_button.setToolTip("Repaint the masked part (Ctrl+Return)")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop within one step; the last preview is kept (Esc)")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        settings = QVBoxLayout()
        settings.setContentsMargins(0, 0, 0, 0)
        settings.addWidget(box)
        settings.addWidget(self.sd_box)
        settings.addStretch(1)
        side = QWidget()
        side.setLayout(settings)
        # The settings scroll when the window is short (Stable Diffusion has many); the run
        # buttons, progress and status stay in sight below them.
        scroll = QScrollArea()
        scroll.setWidget(side)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        right = QVBoxLayout()
        right.addWidget(scroll, 1)
        rb = QHBoxLayout()
        rb.addWidget(self.run_button)
        rb.addWidget(self.cancel_button)
        right.addLayout(rb)
        right.addWidget(self.progress)
        right.addWidget(self.status_label)
        column = QWidget()
        column.setLayout(right)
        column.setFixedWidth(300)

        body = QHBoxLayout()
        body.addLayout(left, 5)
        body.addLayout(middle, 5)
        body.addWidget(column)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.prompt_row)
        lay.addWidget(self.note_label)
        lay.addLayout(body, 1)

        self.model_combo.currentIndexChanged.connect(self._on_model_combo_changed)
        self.open_button.clicked.connect(self._open_dialog)
        self.paste_button.clicked.connect(self.paste)
        self.glyph_button.clicked.connect(self.pick_glyph)
        self.mask_button.clicked.connect(self._mask_dialog)
        self.tool_group.idClicked.connect(
            lambda i: self.push_param("tool", self.doc.tool, TOOLS[i]))
        self.canvas.edited.connect(self._on_canvas_edited)
        self.canvas.hovered.connect(self.message.emit)
        self.clear_button.clicked.connect(lambda: self.mask_op("Clear mask", lambda m: 0 * m))
        self.invert_button.clicked.connect(lambda: self.mask_op("Invert mask", mk.invert))
        self.grow_button.clicked.connect(
            lambda: self.mask_op("Grow mask", lambda m: mk.grow(m, 1)))
        self.shrink_button.clicked.connect(
            lambda: self.mask_op("Shrink mask", lambda m: mk.grow(m, -1)))
        self.soften_button.clicked.connect(
            lambda: self.mask_op("Feather mask", lambda m: mk.feather(m, 2.0)))
        self.size_spin.valueChanged.connect(lambda v: self.push_param("brush", self.doc.brush, v))
        self.hardness_slider.valueChanged.connect(
            lambda v: self.push_param("hardness", self.doc.hardness, v / 100.0))
        self.opacity_slider.valueChanged.connect(
            lambda v: self.push_param("opacity", self.doc.opacity, v / 100.0))
        self.sampler_combo.currentTextChanged.connect(
            lambda t: self.push_param("sampler", self.doc.sampler, t))
        self.steps_spin.valueChanged.connect(lambda v: self.push_param("steps", self.doc.steps, v))
        self.repaint_combo.currentIndexChanged.connect(
            lambda i: self.set_repaint(self.repaint_combo.itemData(i)))
        self.guidance_spin.valueChanged.connect(
            lambda v: self.push_param("guidance", self.doc.guidance, v))
        self.class_combo.currentIndexChanged.connect(
            lambda i: self.push_param("label", self.doc.label, self.class_combo.itemData(i)))
        self.seed_spin.valueChanged.connect(lambda v: self.push_param("seed", self.doc.seed, v))
        self.dice_button.clicked.connect(self.roll_seed)
        self.feather_spin.valueChanged.connect(
            lambda v: self.push_param("feather", self.doc.feather, v))
        self.prompt_combo.lineEdit().editingFinished.connect(
            lambda: self.push_param("prompt", self.doc.prompt, self.prompt_combo.currentText()))
        self.prompt_combo.activated.connect(
            lambda _i: self.push_param("prompt", self.doc.prompt,
                                       self.prompt_combo.currentText()))
        self.negative_edit.editingFinished.connect(
            lambda: self.push_param("negative", self.doc.negative, self.negative_edit.text()))
        self.scheduler_combo.currentTextChanged.connect(
            lambda t: self.push_param("scheduler", self.doc.scheduler, t))
        self.lock_check.toggled.connect(
            lambda v: self.push_param("lock_seed", self.doc.lock_seed, bool(v)))
        self.frame_check.toggled.connect(
            lambda v: self.push_param("frame_glyph", self.doc.frame_glyph, bool(v)))
        for name, spin in (("strength", self.strength_spin), ("width", self.width_spin),
                           ("height", self.height_spin), ("batch", self.batch_spin),
                           ("mask_blur", self.blur_spin), ("padding", self.padding_spin),
                           ("preview_every", self.decode_spin)):
            spin.valueChanged.connect(
                lambda v, n=name: self.push_param(n, getattr(self.doc, n), v))
        self.only_masked_check.toggled.connect(
            lambda v: self.push_param("only_masked", self.doc.only_masked, bool(v)))
        self.precision_combo.currentTextChanged.connect(lambda _t: self._memory_changed())
        self.offload_check.toggled.connect(lambda _v: self._memory_changed())
        self.slicing_check.toggled.connect(lambda _v: self._memory_changed())
        self.embed_button.clicked.connect(self._add_embedding_dialog)
        self.embed_clear_button.clicked.connect(
            lambda: self.push_param("embeddings", self.doc.embeddings, ()))
        self.lora_add_button.clicked.connect(self._add_lora_dialog)
        self.lora_remove_button.clicked.connect(self.remove_lora)
        self.lora_list.currentRowChanged.connect(self._on_lora_row)
        self.lora_weight.valueChanged.connect(self._on_lora_weight)
        self.run_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(self.cancel)
        self.split_slider.valueChanged.connect(lambda v: self.compare.set_split(v / 100.0))
        self.compare.split_changed.connect(self._on_compare_split)
        self.history_list.currentRowChanged.connect(
            lambda r: self.doc.select(r if r >= 0 else None) if not self._applying else None)
        self.use_button.clicked.connect(self.use_result)
        self.export_button.clicked.connect(lambda: self.export())
        self.to_eval_button.clicked.connect(self.send_history_to_evaluation)
        self.add_shortcut("Ctrl+V", self.paste, "Paste a picture to inpaint")
        self.add_shortcut("Ctrl+Return", self.run, "Inpaint")
        self.add_shortcut("Escape", self.cancel, "Cancel the running inpainting")
        for tool, key in keys.items():
            self.add_shortcut(key, lambda t=tool: self.push_param("tool", self.doc.tool, t),
                              f"{tool.capitalize()} tool")
        self.add_shortcut("[", lambda: self.size_spin.setValue(self.doc.brush - 0.5),
                          "Smaller brush")
        self.add_shortcut("]", lambda: self.size_spin.setValue(self.doc.brush + 0.5),
                          "Larger brush")
        self.add_shortcut("I", lambda: self.mask_op("Invert mask", mk.invert), "Invert mask")
        self._update_buttons()

    def _build_sd_box(self) -> QGroupBox:
        box = QGroupBox("Stable Diffusion")
        g = QGridLayout(box)
        self.strength_spin = QDoubleSpinBox(minimum=0.0, maximum=1.0, singleStep=0.05,
                                            decimals=2, specialValueText="auto")
        self.strength_spin.setToolTip("How much is repainted: 1 all, lower keeps more of the "
                                      "picture (auto: 1 to inpaint, 0.75 for img2img)")
        self.width_spin = QSpinBox(minimum=0, maximum=gen.MAX_SIDE, singleStep=64,
                                   specialValueText="own")
        self.height_spin = QSpinBox(minimum=0, maximum=gen.MAX_SIDE, singleStep=64,
                                    specialValueText="own")
        for spin, side in ((self.width_spin, "Width"), (self.height_spin, "Height")):
            spin.setToolTip(f"{side} of the output (own: the picture's, or the model's "
                            "native size)")
        self.batch_spin = QSpinBox(minimum=1, maximum=16)
        self.batch_spin.setToolTip("Pictures per run (seeds S, S+1, ...)")
        self.blur_spin = QDoubleSpinBox(minimum=0.0, maximum=64.0, singleStep=1.0, decimals=1,
                                        suffix=" px")
        self.blur_spin.setToolTip("Mask blur: the result fades in over this many pixels "
                                  "inside the mask; outside it the picture is kept exactly")
        self.only_masked_check = QCheckBox("only masked")
        self.only_masked_check.setToolTip("Work on a crop around the mask at the model's "
                                          "native size (more detail in small regions)")
        self.padding_spin = QSpinBox(minimum=0, maximum=512, suffix=" px")
        self.padding_spin.setToolTip("Context around the mask in 'only masked'")
        self.decode_spin = QSpinBox(minimum=0, maximum=100, specialValueText="never",
                                    prefix="every ", suffix=" steps")
        self.decode_spin.setToolTip("Decode the preview through the VAE (exact, slower) every "
                                    "this many steps; between, a quick projection of the latent")
        self.lora_list = QListWidget()
        self.lora_list.setFixedHeight(56)
        self.lora_list.setToolTip("LoRA files, all active; select one to set its weight")
        self.lora_weight = QDoubleSpinBox(minimum=-2.0, maximum=2.0, singleStep=0.1,
                                          decimals=2)
        self.lora_weight.setToolTip("Weight of the selected LoRA")
        self.lora_add_button = QToolButton(text="+")
        self.lora_add_button.setToolTip("Add a LoRA .safetensors (diffusers or kohya keys)")
        self.lora_remove_button = QToolButton(text="−")
        self.lora_remove_button.setToolTip("Remove the selected LoRA")
        self.embed_button = QToolButton(text="Add…")
        self.embed_button.setToolTip("Add a textual-inversion embedding (.safetensors or "
                                     ".pt); its file name is the word to use in the prompt")
        self.embed_clear_button = QToolButton(text="Clear")
        self.embed_label = QLabel()
        self.embed_label.setWordWrap(True)
        self.embed_label.setStyleSheet("color: #555;")
        self.precision_combo = QComboBox()
        self.precision_combo.addItems(["auto", "float32", "float16", "bfloat16"])
        self.precision_combo.setToolTip("Weights' precision: auto is float16 on a GPU, float32 "
                                        "on the CPU (the model reloads when changed)")
        self.offload_check = QCheckBox("offload")
        self.offload_check.setToolTip("GPU: keep the model on the CPU and move each part to "
                                      "the GPU in turn (less GPU memory, slower)")
        self.slicing_check = QCheckBox("slice attention")
        self.slicing_check.setToolTip("Compute attention in slices: less memory, a bit slower")
        size = QWidget()
        sl = QHBoxLayout(size)
        sl.setContentsMargins(0, 0, 0, 0)
        sl.addWidget(self.width_spin, 1)
        sl.addWidget(QLabel("×"))
        sl.addWidget(self.height_spin, 1)
        rows = [("strength", self.strength_spin), ("size", size), ("batch", self.batch_spin),
                ("blur", self.blur_spin), ("VAE view", self.decode_spin)]
        for i, (text, w) in enumerate(rows):
            g.addWidget(QLabel(text), i, 0)
            g.addWidget(w, i, 1, 1, 3)
        n = len(rows)
        g.addWidget(self.only_masked_check, n, 0, 1, 2)
        g.addWidget(self.padding_spin, n, 2, 1, 2)
        g.addWidget(QLabel("LoRA"), n + 1, 0)
        g.addWidget(self.lora_weight, n + 1, 1)
        g.addWidget(self.lora_add_button, n + 1, 2)
        g.addWidget(self.lora_remove_button, n + 1, 3)
        g.addWidget(self.lora_list, n + 2, 0, 1, 4)
        g.addWidget(QLabel("memory"), n + 4, 0)
        g.addWidget(self.precision_combo, n + 4, 1, 1, 3)
        g.addWidget(self.offload_check, n + 5, 0, 1, 2)
        g.addWidget(self.slicing_check, n + 5, 2, 1, 2)
        g.addWidget(QLabel("words"), n + 3, 0)
        g.addWidget(self.embed_label, n + 3, 1)
        g.addWidget(self.embed_button, n + 3, 2)
        g.addWidget(self.embed_clear_button, n + 3, 3)
        return box

    def _saved_list(self, key: str) -> list[str]:
        value = self.ctx.settings.value(key, [])
        if isinstance(value, str):           # QSettings gives one item back as a string
            value = [value]
        return [str(v) for v in (value or []) if str(v)]

    def _remember(self, key: str, item: str, most: int) -> None:
        items = [item] + [v for v in self._saved_list(key) if v != item]
        self.ctx.settings.setValue(key, items[:most])

    def recent_models(self) -> list[str]:
        """Stable Diffusion checkpoints used before, newest first, that still exist."""
        return [p for p in self._saved_list(RECENT_KEY) if Path(p).exists()]

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        paths = self.recent_models()
        if not paths:
            self.recent_menu.addAction("No Stable Diffusion checkpoint used yet").setEnabled(
                False)
        for path in paths:
            act = self.recent_menu.addAction(Path(path).name)
            act.setToolTip(path)
            act.triggered.connect(lambda _c=False, p=path: self.open_recent_model(p))

    def open_recent_model(self, path: str) -> None:
        """Register a checkpoint used before (its configs only) and switch to it."""
        known = {i.path: i.name for i in self.ctx.registry.infos()}
        resolved = str(Path(path).expanduser().resolve())
        if resolved in known:
            self.model_combo.select(known[resolved])
            return

        def chosen(info) -> None:
            self.backend_changed()
            self.model_combo.select(info.name)

        self.register_checkpoint(path, then=chosen)

    def prompted(self) -> bool:
        return takes_prompt(self.ctx.registry, self.doc.model)

    def _show_kind(self) -> None:
        """Stable Diffusion's controls, or the studio's own models'."""
        prompted = self.prompted()
        for w in self._prompt_only:
            w.setVisible(prompted)
        for w in self._glyph_only:
            w.setVisible(not prompted)
        self.frame_check.setVisible(bool(self.doc.model)
                                    and ip.can_frame_glyph(self.ctx.registry, self.doc.model))
        self.run_button.setText("Generate" if prompted else "Inpaint")
        self.canvas.placeholder = (
            "Open, paste or drop a picture, paint where to repaint; with no picture, "
            "Generate makes one from the prompt" if prompted else
            "Open, paste or drop a picture, or pick a glyph; then paint where the model "
            "should repaint")
        self.size_spin.setMaximum(256.0 if prompted else 32.0)

    def add_lora(self, path: str, weight: float = 1.0) -> None:
        loras = tuple(self.doc.loras) + ((str(path), float(weight)),)
        self.push_param("loras", self.doc.loras, loras)

    def remove_lora(self) -> None:
        row = self.lora_list.currentRow()
        if 0 <= row < len(self.doc.loras):
            loras = tuple(x for i, x in enumerate(self.doc.loras) if i != row)
            self.push_param("loras", self.doc.loras, loras)

    def _add_lora_dialog(self) -> None:
        path = dialogs.open_file(self, "checkpoint", "Add a LoRA", "LoRA (*.safetensors)")
        if path:
            self.add_lora(path)

    def load_options(self) -> dict[str, Any]:
        return {"precision": self.precision_combo.currentText(),
                "offload": self.offload_check.isChecked(),
                "attention_slicing": self.slicing_check.isChecked()}

    def _memory_changed(self) -> None:
        """How the model loads (a setting of this computer, not of the session)."""
        if self._applying or not self.prompted():
            return
        self.ctx.registry.set_load_options(self.doc.model, **self.load_options())
        self._on_kind()                    # loads again with them, in the long lane

    def add_embedding(self, path: str) -> None:
        if str(path) not in self.doc.embeddings:
            self.push_param("embeddings", self.doc.embeddings,
                            tuple(self.doc.embeddings) + (str(path),))

    def _add_embedding_dialog(self) -> None:
        path = dialogs.open_file(self, "checkpoint", "Add an embedding",
                                 "Embeddings (*.safetensors *.pt *.bin)")
        if path:
            self.add_embedding(path)

    def _on_lora_row(self, row: int) -> None:
        if 0 <= row < len(self.doc.loras):
            self.lora_weight.blockSignals(True)
            self.lora_weight.setValue(self.doc.loras[row][1])
            self.lora_weight.blockSignals(False)

    def _on_lora_weight(self, value: float) -> None:
        row = self.lora_list.currentRow()
        if self._applying or not 0 <= row < len(self.doc.loras):
            return
        loras = tuple((p, float(value) if i == row else w)
                      for i, (p, w) in enumerate(self.doc.loras))
        self.push_param("loras", self.doc.loras, loras)

    def _fill_loras(self) -> None:
        row = self.lora_list.currentRow()
        self.lora_list.clear()
        for p, w in self.doc.loras:
            item = QListWidgetItem(f"{Path(p).stem}  ×{w:g}")
            item.setToolTip(p)
            self.lora_list.addItem(item)
        if self.doc.loras:
            self.lora_list.setCurrentRow(min(max(row, 0), len(self.doc.loras) - 1))

    def generate_options(self) -> gen.GenerateOptions:
        d = self.doc
        return gen.GenerateOptions(
            prompt=d.prompt, negative=d.negative, steps=int(d.steps),
            guidance=float(d.guidance), scheduler=d.scheduler, seed=int(d.seed),
            width=int(d.width), height=int(d.height), strength=float(d.strength) or None,
            mask_blur=float(d.mask_blur), only_masked=bool(d.only_masked),
            padding=int(d.padding), loras=tuple(d.loras), batch=int(d.batch),
            preview_decode_every=int(d.preview_every), embeddings=tuple(d.embeddings))

    # -- models ---------------------------------------------------------------------------

    def _refresh_models(self) -> None:
        infos = self.ctx.registry.infos(Capability.INPAINT)
        name = self.model_combo.set_models(infos, self.doc.model)
        if name != self.doc.model:
            self.doc.set_param("model", name)
        if not infos:
            self.note_label.setText("No inpainting model is registered: train one "
                                    "('latent-studio train diffusion') or open a checkpoint.")
        self._update_buttons()

    def backend_changed(self) -> None:
        self._refresh_models()

    def info(self):
        return self.ctx.registry.info(self.doc.model) if self.doc.model else None

    def _on_model_combo_changed(self, index: int) -> None:
        name = self.model_combo.itemData(index)
        if name and name != self.doc.model:
            self.push_param("model", self.doc.model, name)

    def _fill_classes(self) -> None:
        info = self.info()
        classes = tuple(info.classes) if info is not None else ()
        self.class_combo.blockSignals(True)
        self.class_combo.clear()
        self.class_combo.addItem("none", None)
        for i, c in enumerate(classes):
            self.class_combo.addItem(c, i)
        index = self.class_combo.findData(self.doc.label) if self.doc.label is not None else 0
        self.class_combo.setCurrentIndex(max(index, 0))
        self.class_combo.setEnabled(bool(classes))
        self.guidance_spin.setEnabled(bool(classes) or self.prompted())
        self.class_combo.blockSignals(False)
        if self.doc.label is not None and self.doc.label >= len(classes):
            self.doc.set_param("label", None)
        desc = info.description if info is not None else ""
        shape = "x".join(map(str, info.image_shape)) if info is not None else ""
        paints = ("works at the picture's own size" if self.prompted()
                  else f"paints {shape} pictures")
        self.note_label.setText(f"{desc} — {paints}" if desc else "")

    # -- parameters -----------------------------------------------------------------------

    def push_param(self, name: str, old: Any, new: Any) -> None:
        if self._applying or old == new:
            return
        self.undo_stack.push(ParamCommand(self.doc.set_param, name, old, new))

    def set_repaint(self, key: str) -> None:
        """A RePaint preset, with its steps (one undo step)."""
        if self._applying or key == self.doc.repaint:
            return
        self.undo_stack.beginMacro(f"RePaint {key}")
        self.push_param("repaint", self.doc.repaint, key)
        self.push_param("steps", self.doc.steps, PRESETS[key].steps)
        self.undo_stack.endMacro()

    def roll_seed(self) -> None:
        self.push_param("seed", self.doc.seed, int(np.random.default_rng().integers(2**31 - 1)))

    def options(self) -> ip.InpaintOptions:
        d = self.doc
        return ip.InpaintOptions(sampler=d.sampler, steps=int(d.steps), repaint=d.repaint,
                                 guidance=float(d.guidance), label=d.label, seed=int(d.seed),
                                 feather=float(d.feather))

    def _on_doc_param(self, name: str) -> None:
        self._applying = True
        try:
            d = self.doc
            if name == "model":
                if d.model in self.model_combo.names():
                    self.model_combo.select(d.model, quiet=True)
                self._fill_classes()
                self._on_kind()
                info = self.info()
                prompted = self.prompted()
                expected = None if info is None else (
                    (*d.picture.shape[:2], 3) if prompted and d.picture is not None
                    else tuple(info.image_shape))
                if d.picture is not None and info is not None and d.image is not None and \
                        tuple(d.image.shape) != tuple(expected):
                    # Another size: the same picture and mask, resized for this model.
                    self._prepare(d.picture, d.label_text, keep_mask=True,
                                  what=f"Picture for {d.model}", undoable=False)
            elif name == "tool":
                self.tool_buttons[d.tool].setChecked(True)
                self.canvas.tool = d.tool
            elif name == "brush":
                self.size_spin.setValue(float(d.brush))
                self.canvas.radius = float(d.brush)
            elif name == "hardness":
                self.hardness_slider.setValue(round(d.hardness * 100))
                self.canvas.hardness = float(d.hardness)
            elif name == "opacity":
                self.opacity_slider.setValue(round(d.opacity * 100))
                self.canvas.set_opacity(float(d.opacity))
            elif name == "sampler":
                self.sampler_combo.setCurrentText(d.sampler)
            elif name == "steps":
                self.steps_spin.setValue(int(d.steps))
            elif name == "repaint":
                self.repaint_combo.setCurrentIndex(self.repaint_combo.findData(d.repaint))
            elif name == "guidance":
                self.guidance_spin.setValue(float(d.guidance))
            elif name == "label":
                index = self.class_combo.findData(d.label) if d.label is not None else 0
                self.class_combo.setCurrentIndex(max(index, 0))
            elif name == "seed":
                self.seed_spin.setValue(int(d.seed))
            elif name == "feather":
                self.feather_spin.setValue(float(d.feather))
            elif name == "prompt":
                if d.prompt and self.prompt_combo.findText(d.prompt) < 0:
                    self.prompt_combo.insertItem(0, d.prompt)
                self.prompt_combo.setCurrentText(d.prompt)
            elif name == "negative":
                self.negative_edit.setText(d.negative)
            elif name == "scheduler":
                self.scheduler_combo.setCurrentText(d.scheduler)
            elif name == "lock_seed":
                self.lock_check.setChecked(bool(d.lock_seed))
            elif name == "frame_glyph":
                self.frame_check.setChecked(bool(d.frame_glyph))
                if d.picture is not None and not self._restoring and self.info() is not None:
                    # The picture again from what the user gave, framed or not (the mask
                    # drawn on the other framing would not stay on its strokes).
                    self._prepare(d.picture, d.label_text, keep_mask=False,
                                  what="Frame as a glyph", undoable=False)
            elif name == "only_masked":
                self.only_masked_check.setChecked(bool(d.only_masked))
            elif name == "loras":
                self._fill_loras()
            elif name == "embeddings":
                words = ", ".join(Path(p).stem for p in d.embeddings)
                self.embed_label.setText(words or "none")
                self.embed_label.setToolTip("\n".join(d.embeddings))
            elif name in ("strength", "width", "height", "batch", "mask_blur", "padding",
                          "preview_every"):
                spin = {"strength": self.strength_spin, "width": self.width_spin,
                        "height": self.height_spin, "batch": self.batch_spin,
                        "mask_blur": self.blur_spin, "padding": self.padding_spin,
                        "preview_every": self.decode_spin}[name]
                spin.setValue(getattr(d, name))
        finally:
            self._applying = False
        if name in ("steps", "repaint"):
            self._show_cost()

    def _on_kind(self) -> None:
        """A switch between Stable Diffusion and the studio's models: their controls, their
        steps and guidance; a Stable Diffusion model starts loading in the long lane."""
        prompted = self.prompted()
        self._show_kind()
        if prompted and self.doc.model:
            model = self.doc.model
            self.ctx.registry.set_load_options(model, **self.load_options())
            if self.info().path:
                self._remember(RECENT_KEY, self.info().path, MAX_RECENT)
            self.ctx.jobs.submit(f"{self.name}-load", load_model, self.ctx.registry, model,
                                 lane="long", label=f"Loading {model}",
                                 on_result=lambda m: self.message.emit(f"{m} is loaded"),
                                 on_error=self.error.emit)
        if self._kind is not None and prompted != self._kind:
            steps, guidance = (25, 7.5) if prompted else (PRESETS[self.doc.repaint].steps, 1.0)
            self.doc.set_param("steps", steps)
            self.doc.set_param("guidance", guidance)
        self._kind = prompted

    def _show_cost(self) -> None:
        opts = self.options()
        p = PRESETS[opts.repaint]
        how = (f"jump {p.jump}, {p.resamples} resamplings: " if p.jump else "")
        self.cost_label.setText(f"{how}{opts.calls:,} network calls")

    # -- the picture ----------------------------------------------------------------------

    def set_picture(self, rgb: np.ndarray, label: str, note: str = "") -> None:
        """A new picture (RGB uint8), framed for the model in the background."""
        if not self.doc.model:
            self.error.emit("No inpainting model is registered", "")
            return
        self._prepare(rgb, label, keep_mask=False, what=f"Picture {label}", note=note)

    def _prepare(self, rgb: np.ndarray, label: str, keep_mask: bool, what: str,
                 undoable: bool = True, note: str = "") -> None:
        model = self.doc.model

        def done(result: tuple[np.ndarray, bool, str]) -> None:
            if model != self.doc.model:
                return
            image, dark, more = result
            h, w = image.shape[:2]
            mask = self.doc.mask if keep_mask and self.doc.mask is not None else None
            mask = mk.empty(h, w) if mask is None else (
                mask if mask.shape == (h, w) else mk.resize(mask, h, w))
            new = (rgb, label, image, dark, mask)
            if undoable:
                self.undo_stack.push(PictureCommand(self.doc, new, what))
            else:
                self.doc.set_picture(*new)
            said = "; ".join(n for n in (note, more) if n)
            if said:
                self.message.emit(f"{label}: {said}")

        self.ctx.jobs.submit(f"{self.name}-prepare", prepare_picture, self.ctx.registry,
                             model, rgb, self.doc.frame_glyph and not keep_mask, lane="io",
                             label=f"Reading {label}", on_result=done,
                             on_error=self.error.emit)

    def _open_dialog(self) -> None:
        path = dialogs.open_file(self, "picture", "Open picture", IMAGE_FILTER)
        if path:
            self.open_file(path)

    def open_file(self, path: str) -> None:
        self.ctx.jobs.submit(f"{self.name}-read", read_picture, path, lane="io",
                             label=f"Reading {Path(path).name}",
                             on_result=lambda r: self.set_picture(r[0], Path(path).name, r[1]),
                             on_error=self.error.emit)

    def paste(self) -> None:
        paste_picture(self, self.set_picture)

    def pick_glyph(self) -> None:
        if self.glyphs is None:
            self.ctx.jobs.submit(f"{self.name}-glyphs", open_glyphs, lane="io",
                                 label="Opening the glyph data set",
                                 on_result=self._glyphs_ready, on_error=self.error.emit)
            return
        dialog = GlyphPicker(self.glyphs, self)
        if dialog.exec() == QDialog.DialogCode.Accepted and (got := dialog.chosen()):
            self.set_picture(got[0], got[1])

    def _glyphs_ready(self, index: DatasetIndex | None) -> None:
        if index is None:
            self.error.emit("The glyph data set is not built: build it in the Latent "
                            "Explorer's Data set tab or with 'latent-studio data build "
                            "glyphs'", "")
            return
        self.glyphs = index
        self.pick_glyph()

    def receive_picture(self, rgb: Any, label: str) -> None:
        """A picture another panel sent (a Latent Explorer frame, a Style Mixer cell)."""
        self.set_picture(np.ascontiguousarray(rgb, np.uint8), label)

    def _mask_dialog(self) -> None:
        path = dialogs.open_file(self, "picture", "Open mask", IMAGE_FILTER)
        if path:
            self.open_mask(path)

    def open_mask(self, path: str) -> None:
        if self.doc.image is None:
            self.error.emit("Open a picture first; the mask goes over it", "")
            return

        def loaded(m: np.ndarray) -> None:
            if self.doc.mask is None:
                return
            h, w = self.doc.mask.shape
            self.set_mask(mk.resize(m, h, w) if m.shape != (h, w) else m,
                          f"Mask {Path(path).name}")

        self.ctx.jobs.submit(f"{self.name}-mask", read_mask, path, lane="io",
                             label=f"Reading {Path(path).name}", on_result=loaded,
                             on_error=self.error.emit)

    def _on_doc_picture(self) -> None:
        d = self.doc
        shown = None if d.image is None else to_uint8(d.image[None], d.dark_on_light)[0]
        self.canvas.set_picture(shown)
        self._show_result()
        self._update_buttons()

    # -- the mask -------------------------------------------------------------------------

    def set_mask(self, new: np.ndarray, what: str) -> None:
        if self.doc.mask is None:
            return
        self.undo_stack.push(MaskCommand(self.doc, self.doc.mask.copy(),
                                         np.asarray(new, np.float32), what))

    def mask_op(self, what: str, op) -> None:
        if self.doc.mask is None:
            self.error.emit("Open a picture first", "")
            return
        new = op(self.doc.mask).astype(np.float32)
        if not np.array_equal(new, self.doc.mask):
            self.set_mask(new, what)

    def _on_canvas_edited(self, old: np.ndarray, new: np.ndarray, what: str) -> None:
        self.undo_stack.push(MaskCommand(self.doc, old, new, what))

    def _on_doc_mask(self) -> None:
        m = self.doc.mask
        self.canvas.set_mask(m)
        share = 0.0 if m is None else float((m > 0.5).mean())
        self.mask_label.setText("" if m is None else f"mask {share:.0%} of the picture")
        self._update_buttons()

    # -- running --------------------------------------------------------------------------

    def run(self) -> None:
        if self.prompted():
            self._run_prompted()
            return
        d = self.doc
        if d.image is None or d.mask is None:
            self.error.emit("Open a picture and paint a mask first", "")
            return
        if float(d.mask.max(initial=0.0)) <= 0.01:
            self.error.emit("The mask is empty: paint where the model should repaint", "")
            return
        try:
            options = self.options()
        except ValueError as exc:
            self.error.emit(str(exc), "")
            return
        self._running = (d.image.copy(), d.mask.copy(), options, d.model)
        self.preview = None
        self._show_result()
        self.progress.setValue(0)
        self.status_label.setText(f"Running: {options.calls:,} network calls")
        self.ctx.jobs.submit(f"{self.name}-run", run_inpaint, self.ctx.registry, d.model,
                             d.image, d.mask, options, lane="long",
                             label=f"Inpainting with {d.model}",
                             on_progress=lambda f: self.progress.setValue(round(f * 1000)),
                             on_preview=self._on_preview, on_result=self._on_result,
                             on_error=self._on_failed)
        self._update_buttons()

    def _run_prompted(self) -> None:
        """Text-to-image (no picture), img2img (no mask painted) or inpainting."""
        d = self.doc
        try:
            options = self.generate_options()
        except ValueError as exc:
            self.error.emit(str(exc), "")
            return
        image = None if d.image is None else d.image.copy()
        mask = None if d.mask is None or float(d.mask.max(initial=0.0)) < 0.5 else \
            d.mask.copy()
        if d.prompt and self.prompt_combo.findText(d.prompt) < 0:
            self.prompt_combo.insertItem(0, d.prompt)
        if d.prompt:
            self._remember(PROMPTS_KEY, d.prompt, MAX_PROMPTS)
        self._running = (image, mask, options, d.model)
        self.preview = None
        self._show_result()
        self._started = time.monotonic()
        self.progress.setValue(0)
        what = "Generating" if image is None else ("Repainting" if mask is not None
                                                   else "Reworking")
        self.status_label.setText(f"{what}: {options.steps} steps × {options.batch}")
        self.ctx.jobs.submit(f"{self.name}-run", run_generate, self.ctx.registry, d.model,
                             options, image, mask, lane="long",
                             label=f"{what} with {d.model}",
                             on_progress=self._on_prompted_progress,
                             on_preview=self._on_preview, on_result=self._on_results,
                             on_error=self._on_failed)
        self._update_buttons()

    def _on_prompted_progress(self, fraction: float) -> None:
        self.progress.setValue(round(fraction * 1000))
        if self._running is None or fraction <= 0:
            return
        options = self._running[2]
        total = options.steps * options.batch
        done = max(fraction * total, 1e-9)
        per = (time.monotonic() - self._started) / done
        self.status_label.setText(f"{fraction:.0%} · {per:.2f} s/step · ETA "
                                  f"{per * (total - done):.0f} s")

    def _on_results(self, results: list[np.ndarray]) -> None:
        run, self._running = self._running, None
        if run is None:
            return
        self.preview = None
        self.progress.setValue(1000)
        image, mask, options, model = run
        for i, result in enumerate(results):
            one = gen.with_seed(options, options.seed + i)
            self._add_result(result, (image, mask, one, model))
        per = (time.monotonic() - self._started) / max(1, options.steps * len(results))
        self.status_label.setText(f"Done: {len(results)} picture(s), {per:.2f} s/step")
        if not self.doc.lock_seed:
            self.roll_seed()
        self._update_buttons()

    def _on_job_cancelled(self, key: str) -> None:
        if key == f"{self.name}-run" and self._running is not None:
            self.cancel()

    def cancel(self) -> None:
        """Stop the run; its last preview becomes a result (marked cancelled), with the
        picture's own pixels wherever the mask keeps them."""
        if self._running is None:
            return
        self.ctx.jobs.cancel(f"{self.name}-run")
        kept = self.preview
        run, self._running = self._running, None
        source, mask = run[0], run[1]
        if kept is not None and source is not None and mask is not None and \
                kept.shape == source.shape:
            keep = np.clip(mask, 0.0, 1.0)[..., None]
            kept = np.where(keep > 0, source + (kept - source) * keep, source).astype(
                np.float32)
        if kept is not None:
            self._add_result(kept, run, cancelled=True)
            self.status_label.setText("Cancelled; the last preview is in the history")
        else:
            self.status_label.setText("Cancelled before the first step")
        self._update_buttons()

    def _on_preview(self, preview: Any) -> None:
        if self._running is None:
            return
        self.preview = np.asarray(preview, np.float32)
        # The picture (before) was shown when the run started; a preview replaces only the
        # result side (a photo's conversion per step would be main-thread work for nothing).
        self.compare.set_after(self._shown(self.preview))

    def _on_result(self, result: np.ndarray) -> None:
        run, self._running = self._running, None
        if run is None:
            return
        self.preview = None
        self.progress.setValue(1000)
        self._add_result(result, run)
        self.status_label.setText("Done")
        self._update_buttons()

    def _on_failed(self, message: str, details: str) -> None:
        self._running = None
        self.preview = None
        self.status_label.setText("Failed")
        self.error.emit(message, details)
        self._update_buttons()
        self._show_result()

    def _add_result(self, image: np.ndarray, run: tuple, cancelled: bool = False) -> None:
        source, mask, options, model = run
        info = self.ctx.registry.info(model)
        described = (options.describe(tuple(info.classes))
                     if isinstance(options, ip.InpaintOptions) else options.describe())
        meta = {"model": model, **described}
        image = np.asarray(image, np.float32)
        source = image if source is None else source
        mask = np.zeros(image.shape[:2], np.float32) if mask is None else mask
        if cancelled:
            meta["cancelled"] = "yes: the last preview"
        recipe = None if cancelled else self.recipe_of(run)
        self.doc.add_result(HistoryEntry(np.asarray(image, np.float32), source, mask, meta,
                                         recipe))
        if recipe is not None:
            self.result_made.emit(recipe, self._shown(image), self.title)

    def recipe_of(self, run: tuple) -> Any:
        """The recipe of a run of this panel: the picture and mask as the model took them
        (arrays: a painted mask is no file), every option, the model's fingerprint."""
        from models import device as devices
        from models.recipe import Recipe
        from models.tasks import runner

        source, mask, options, model = run
        info = self.ctx.registry.info(model)
        d = self.doc
        arrays = {}
        if source is not None:
            arrays["image"] = np.asarray(source, np.float32)
        if mask is not None:
            arrays["mask"] = np.asarray(mask, np.float32)
        if isinstance(options, ip.InpaintOptions):
            big = max(np.asarray(source).shape[:2]) < 128
            params = {"sampler": options.sampler, "steps": options.total_steps,
                      "repaint": options.repaint, "guidance": options.guidance,
                      "label": options.label, "seed": options.seed,
                      "feather": options.feather, "frame_glyph": bool(d.frame_glyph),
                      "scale": EXPORT_SCALE if big else 1,
                      "dark_on_light": bool(d.dark_on_light), "source": d.label_text}
            task = "inpaint"
        else:
            params = {**runner.generate_params(options, self.load_options()),
                      "source": d.label_text if source is not None else ""}
            task = "generate"
        # LoRAs and embeddings are files: fingerprinted, so a replay says when one changed.
        files = {**{f"lora-{k + 1}": p for k, (p, _) in enumerate(getattr(options, "loras", ()))},
                 **{f"embedding-{k + 1}": e
                    for k, e in enumerate(getattr(options, "embeddings", ()))}}
        return Recipe.of(task, params, model_info=info, arrays=arrays,
                         inputs={k: v for k, v in files.items() if Path(v).is_file()},
                         device=devices.current_device())

    # -- results --------------------------------------------------------------------------

    def _shown(self, image: np.ndarray) -> np.ndarray:
        return to_uint8(image[None], self.doc.dark_on_light)[0]

    def _show_result(self) -> None:
        d = self.doc
        entry = d.current()
        if self._running is not None:
            before = None if self._running[0] is None else self._shown(self._running[0])
            after = self._shown(self.preview) if self.preview is not None else None
        elif entry is not None:
            before, after = self._shown(entry.source), self._shown(entry.result)
        else:
            before = None if d.image is None else self._shown(d.image)
            after = None
        self.compare.set_pictures(before, after)

    def _on_compare_split(self, split: float) -> None:
        self.split_slider.blockSignals(True)
        self.split_slider.setValue(round(split * 100))
        self.split_slider.blockSignals(False)

    def _on_doc_history(self) -> None:
        self._applying = True
        self.history_list.clear()
        for i, h in enumerate(self.doc.history):
            icon = QIcon(QPixmap.fromImage(to_qimage(self._shown(h.result))))
            item = QListWidgetItem(icon, str(i + 1))
            item.setToolTip("\n".join(f"{k}: {v}" for k, v in h.options.items()))
            self.history_list.addItem(item)
        self._applying = False
        self._update_buttons()

    def _on_doc_selected(self, index: int | None) -> None:
        self._applying = True
        self.history_list.setCurrentRow(-1 if index is None else index)
        self._applying = False
        self._show_result()
        self._update_buttons()

    def _update_buttons(self) -> None:
        running = self._running is not None
        has = self.doc.current() is not None
        ready = bool(self.doc.model) and (self.doc.image is not None or self.prompted())
        self.run_button.setEnabled(ready and not running)
        self.cancel_button.setEnabled(running)
        for b in (self.use_button, self.export_button):
            b.setEnabled(has)
        self.to_eval_button.setEnabled(bool(self.doc.history))

    def use_result(self) -> None:
        """The selected result becomes the picture to work on (the mask stays)."""
        entry = self.doc.current()
        if entry is None:
            return
        rgb = self._shown(entry.result)
        mask = self.doc.mask if self.doc.mask is not None else entry.mask
        self.undo_stack.push(PictureCommand(
            self.doc, (rgb, f"result {self.doc.selected + 1}", entry.result.copy(),
                       self.doc.dark_on_light, mask.copy()), "Use result as picture"))

    def export(self, path: str | None = None) -> None:
        entry = self.doc.current()
        if entry is None:
            self.error.emit("Nothing to export yet: inpaint first", "")
            return
        if path is None:
            path = ask_png(self, "Export result", "inpainted.png")
            if not path:
                return
        meta = {**entry.options, "source": self.doc.label_text}
        # The studio's 64-pixel results are enlarged; a photo is written at its own size.
        scale = EXPORT_SCALE if max(entry.result.shape[:2]) < 128 else 1
        if entry.recipe is not None:            # as 'latent-studio replay' writes it again
            written = self.write_or_say(lambda: self.write_result(entry, Path(path)), path)
        else:
            written = self.write_or_say(lambda: ip.save_with_metadata(
                self._shown(entry.result), path, meta, scale=scale), path)
        if written:
            self.message.emit(f"Exported {path}")

    def write_result(self, entry: HistoryEntry, path: Path) -> Path:
        """A result with its recipe, by the writer the runner uses (the same bytes as a
        replay of it)."""
        from models.tasks import runner

        recipe, model = entry.recipe, entry.options.get("model", self.doc.model)
        if recipe.task == "inpaint":
            classes = tuple(self.ctx.registry.info(model).classes)
            return runner.save_inpainting(recipe, model, classes, self._shown(entry.result),
                                          path)
        return runner.save_generated(recipe, model, entry.result, path,
                                     "image" in recipe.arrays, "mask" in recipe.arrays)

    def restore_recipe(self, recipe: Any, note: str = "") -> None:
        """An output's recipe (an inpainting or a Stable Diffusion picture): its model, every
        setting, its picture and mask, ready to run again or to change one thing."""
        if recipe.task not in ("inpaint", "generate"):
            self.error.emit(f"a {recipe.task} is not made in the Inpainting panel", "")
            return
        self.ctx.jobs.submit(f"{self.name}-restore", restore_inputs, self.ctx.registry,
                             recipe, bool(recipe.params.get("frame_glyph", False)),
                             lane="io", label="Opening the recipe's model and pictures",
                             on_result=lambda r: self._restored(recipe, *r, note=note),
                             on_error=self.error.emit)

    def _restored(self, recipe: Any, model: str, rgb: np.ndarray | None, label: str,
                  prep: ip.Prepared | None, note: str = "") -> None:
        p = recipe.params
        self.begin_restore(model)
        self.push_param("model", self.doc.model, model)
        if recipe.task == "inpaint":
            self.set_repaint(str(p["repaint"]))
            names = {"sampler": p["sampler"], "steps": int(p["steps"]),
                     "guidance": float(p["guidance"]), "label": p["label"],
                     "seed": int(p["seed"]), "feather": float(p["feather"]),
                     "frame_glyph": bool(p.get("frame_glyph", False))}
        else:
            names = {k: p[k] for k in ("prompt", "negative", "steps", "guidance", "scheduler",
                                       "seed", "width", "height", "mask_blur",
                                       "only_masked", "padding") if k in p}
            names["strength"] = float(p.get("strength") or 0.0)
            names["loras"] = [tuple(x) for x in p.get("loras", [])]
            names["embeddings"] = list(p.get("embeddings", []))
            names["lock_seed"] = True           # run again: the same seed
        for k, v in names.items():
            self.push_param(k, getattr(self.doc, k), v)
        self.undo_stack.endMacro()
        if rgb is not None and prep is not None:
            new = (rgb, label, prep.image, prep.dark_on_light, prep.mask)
            # Under the key of a picture's preparation: a model change's own re-framing
            # of the old picture is superseded by this one.
            self.ctx.jobs.submit(f"{self.name}-prepare", lambda *, ctx: new, lane="io",
                                 label=f"Reading {label}",
                                 on_result=lambda n: self.undo_stack.push(
                                     PictureCommand(self.doc, n, f"Picture {label}")),
                                 on_error=self.error.emit)
        self.message.emit(f"Restored the recipe of a {recipe.task} with {model}: press "
                          f"{self.run_button.text()} to make it again")
        if note:
            self.error.emit(f"Restored, but {note}", "")

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 (Qt override)
        """A paste into the prompt box of a ``parameters`` text fills every control."""
        from PySide6.QtCore import QEvent
        from PySide6.QtGui import QGuiApplication, QKeySequence

        if obj is self.prompt_combo.lineEdit() and event.type() == QEvent.Type.KeyPress and \
                event.matches(QKeySequence.StandardKey.Paste):
            text = QGuiApplication.clipboard().text()
            if "\n" in text.strip() and self.apply_parameters(text):
                return True
        return super().eventFilter(obj, event)

    def apply_parameters(self, text: str) -> bool:
        """Another Stable Diffusion tool's ``parameters`` text (pasted in the prompt box,
        or of a dropped picture): its prompt and settings fill the controls. False when the
        text is not one (it is then pasted as it is)."""
        try:
            parsed = gen.parse_parameters(text)
        except ValueError:
            return False
        v = parsed.values
        self.undo_stack.beginMacro("Paste parameters")
        for k in ("prompt", "negative", "steps", "scheduler", "guidance", "seed", "width",
                  "height", "strength", "mask_blur"):
            if k in v:
                self.push_param(k, getattr(self.doc, k), v[k])
        if "seed" in v:
            self.push_param("lock_seed", self.doc.lock_seed, True)
        self.undo_stack.endMacro()
        unused = list(parsed.unknown)
        if v.get("model") and v["model"] != self.doc.model:
            unused.insert(0, f"model {v['model']} (open its checkpoint to use it)")
        self.message.emit("Filled the controls from the parameters text"
                          + (f"; not used here: {', '.join(unused)}" if unused else ""))
        return True

    def send_history_to_evaluation(self) -> None:
        if not self.doc.history:
            self.error.emit("Nothing to send yet: inpaint first", "")
            return
        folder = Path(tempfile.mkdtemp(prefix="inpaint-"))
        for i, h in enumerate(self.doc.history):
            ip.save_with_metadata(self._shown(h.result), folder / f"result-{i + 1:02d}.png",
                                  h.options)
        self.send_to_evaluation.emit(str(folder), f"inpainting ({self.doc.model})")

    # -- sessions -------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return self.doc.to_state()

    def restore_state(self, state: dict[str, Any]) -> None:
        model = state.get("model", "")
        if model and model not in [i.name for i in self.ctx.registry.infos()]:
            self.error.emit(f"The session's inpainting model '{model}' is not registered; "
                            "open its checkpoint first", "")
            state = {k: v for k, v in state.items() if k != "model"}
        self._applying = self._restoring = True
        try:
            self.doc.restore(state)
        finally:
            self._applying = False
        try:
            for name in PARAMS:
                self._on_doc_param(name)
        finally:
            self._restoring = False
        self.undo_stack.clear()

    def shutdown(self) -> None:
        self._running = None
        super().shutdown()


if __name__ == "__main__":
    from studio.panels.standalone import run_standalone

    raise SystemExit(run_standalone(InpaintPanel))
