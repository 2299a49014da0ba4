"""Style Mixer: the StyleGAN style-mixing figure on your own pictures and seeds, truncation,
per-layer noise, and "write in this style".

Rows are sources A, columns sources B; cell (i, j) takes row i's W+ codes with the rows of
W+ ticked in the crossover from column j. Every change re-renders the grid in the
interactive lane under one key (latest wins). Pictures are encoded once per model.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from PySide6.QtCore import QSize, Qt, QTimer
from PySide6.QtGui import QIcon, QPixmap, QUndoCommand
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QSlider,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from models.data import dataset_path
from models.data.browse import DatasetIndex, load_index
from models.image.io import open_picture, to_uint8
from models.protocol import BackendInfo, Capability, JobContext
from models.registry import Registry
from models.tasks import stylemix as sm
from models.tasks.runner import warm_fingerprint
from studio import dialogs
from studio.library import LatentLibrary
from studio.panels import register_panel
from studio.panels.base import (
    Panel,
    ParamCommand,
    StudioContext,
    ask_png,
    clipboard_picture,
)
from studio.panels.latent import IMAGE_FILTER, keep_source
from studio.state.stylemix import MAX_SOURCES, MixSource, StyleMixState
from studio.widgets.image_view import ImageView, to_qimage
from studio.widgets.model_combo import ModelCombo

WHICH = {"rows": "row (A)", "cols": "column (B)", "style": "style glyph"}
EXPORT_SCALE = 4        # a 64-pixel cell is too small to use


# -- jobs (worker thread; numpy in, numpy out) ----------------------------------------------

def resolve_codes(registry: Registry, model: str, sources: list[MixSource],
                  known: dict[int, np.ndarray], label: int = 0) -> dict[int, np.ndarray]:
    """W+ codes of every source (by id) not in ``known``: pictures encoded, seeds drawn
    (of class ``label`` for a conditional model), library latents reshaped (a latent of
    another model is an error that names it)."""
    backend = registry.get(model)
    spec = registry.info(model).style
    out: dict[int, np.ndarray] = {}
    seeds = [s for s in sources if s.kind == "seed" and id(s) not in known]
    if seeds:
        drawn = backend.codes_from_seeds([int(s.seed) for s in seeds], label=label)
        out.update({id(s): c for s, c in zip(seeds, drawn)})
    pictures = [s for s in sources if s.kind == "picture" and id(s) not in known]
    if pictures:
        codes, _ = sm.encode_pictures(registry, model, [s.picture for s in pictures])
        out.update({id(s): c for s, c in zip(pictures, codes)})
    for s in sources:
        if s.kind != "latent" or id(s) in known:
            continue
        z = np.asarray(s.latent, np.float32)
        if s.model != model or z.size != spec.layers * spec.w_dim:
            raise ValueError(f"'{s.label}' is a latent of {s.model or 'another model'}; "
                             f"{model} cannot use it")
        out[id(s)] = z.reshape(spec.layers, spec.w_dim)
    return out


def render_grid(registry: Registry, model: str, rows: list[MixSource], cols: list[MixSource],
                known: dict[int, np.ndarray], from_b: tuple[int, ...], psi: float,
                cutoff: int | None, noise_seed: int | None, strengths: tuple[float, ...],
                heads: bool = True, label: int = 0, *, ctx: JobContext
                ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None,
                           dict[int, np.ndarray]]:
    """(grid uint8 (R, K, H, W, 3), row pictures, column pictures (as decoded from their
    codes; None when ``heads`` is False: they do not change with the crossover), the codes
    computed here)."""
    new = resolve_codes(registry, model, rows + cols, known, label)
    warm_fingerprint(registry, model)          # the export's recipe, later, costs nothing
    codes = {**known, **new}
    a = np.stack([codes[id(s)] for s in rows])
    b = np.stack([codes[id(s)] for s in cols])
    ctx.check()
    # The grid, and each source drawn alone (no crossover), with the same truncation and
    # noise: the function the export's recipe runs again.
    rgb, row_pics, col_pics = sm.render_mix(registry, model, a, b, from_b, psi, cutoff,
                                            noise_seed, strengths, heads, ctx=ctx)
    return rgb, row_pics, col_pics, new


def render_text(registry: Registry, model: str, style: list[MixSource], text: str,
                known: dict[int, np.ndarray], psi: float, strength: float = 1.0, *,
                ctx: JobContext
                ) -> tuple[np.ndarray, np.ndarray, dict[int, np.ndarray]]:
    """(the line as float (H, W', C) in [0, 1], as uint8 RGB, the codes computed here)."""
    new = resolve_codes(registry, model, style, known)
    codes = {**known, **new}
    backend = registry.get(model)
    code = backend.style_of_codes(np.stack([codes[id(s)] for s in style]))
    line = sm.write_text(registry, model, text, code, strength=strength, psi=psi, ctx=ctx)
    return line, to_uint8(line[None])[0], new


def learned_noise(registry: Registry, model: str, *, ctx: JobContext) -> tuple[float, ...]:
    """The noise strengths a model learned per layer (loads the model: a background job)."""
    return tuple(getattr(registry.get(model), "learned_noise", lambda: ())())


def restore_sources(registry: Registry, recipe: Any, *, ctx: JobContext
                    ) -> tuple[str, list[MixSource], list[MixSource]]:
    """A recipe's model registered here and its rows and columns as sources: W+ codes
    (an exported grid), seeds, or pictures read from their files (the io lane)."""
    from models.tasks import runner

    name = runner.model_for(registry, recipe)
    if recipe.task == "stylemix-grid":
        p = recipe.params
        out = []
        for key, labels in (("a", p.get("rows", [])), ("b", p.get("cols", []))):
            codes = recipe.arrays[key].astype(np.float32)
            out.append([MixSource("latent", str(labels[k]) if k < len(labels) else
                                  f"{key.upper()}{k + 1}", latent=c.reshape(-1), model=name)
                        for k, c in enumerate(codes)])
        return name, out[0], out[1]
    ends = []
    for key in ("a", "b"):
        end = runner.seed_or_input(recipe, key)
        if isinstance(end, int):
            ends.append([MixSource("seed", f"seed {end}", seed=end)])
        else:
            img, note = open_picture(end)
            ends.append([MixSource("picture", end.name, picture=keep_source(img), note=note)])
    return name, ends[0], ends[1]


def read_source(path: str, *, ctx: JobContext) -> tuple[np.ndarray, str]:
    img, note = open_picture(path)
    return keep_source(img), note


def open_glyphs(*, ctx: JobContext) -> DatasetIndex | None:
    return load_index("glyphs") if dataset_path("glyphs").is_file() else None


# -- undo ----------------------------------------------------------------------------------

class SetSourcesCommand(QUndoCommand):
    def __init__(self, panel: StyleMixPanel, which: str, new: list[MixSource], what: str
                 ) -> None:
        super().__init__(what)
        self.panel, self.which, self.new = panel, which, list(new)
        self.old = list(panel.doc.sources(which))

    def redo(self) -> None:
        self.panel.doc.set_sources(self.which, self.new)

    def undo(self) -> None:
        self.panel.doc.set_sources(self.which, self.old)


class GlyphPicker(QDialog):
    """Search the glyph data set and pick one glyph."""

    def __init__(self, index: DatasetIndex, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Glyph from the data set")
        self.index = index
        self.search = QLineEdit(placeholderText="e.g.  g bold   ·   Noto Serif   ·   italic")
        self.search.setClearButtonEnabled(True)
        self.list = QListWidget()
        self.list.setViewMode(QListWidget.ViewMode.IconMode)
        self.list.setIconSize(QSize(48, 48))
        self.list.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.list.itemDoubleClicked.connect(lambda _: self.accept())
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(self.search)
        lay.addWidget(self.list, 1)
        lay.addWidget(buttons)
        self.resize(560, 420)
        # Searching 44,000 labels per key press would stall typing: wait for a pause.
        self._timer = QTimer(self, singleShot=True, interval=200)
        self._timer.timeout.connect(lambda: self.fill(self.search.text()))
        self.search.textChanged.connect(lambda _: self._timer.start())
        self.fill("")

    def fill(self, query: str) -> None:
        self.list.clear()
        for i in self.index.search(query, limit=120):
            rgb = to_uint8(self.index.image(i)[None])[0]
            item = QListWidgetItem(QIcon(QPixmap.fromImage(to_qimage(rgb))), "")
            item.setToolTip(self.index.labels[i])
            item.setData(Qt.ItemDataRole.UserRole, i)
            self.list.addItem(item)
        if self.list.count():
            self.list.setCurrentRow(0)

    def chosen(self) -> tuple[np.ndarray, str] | None:
        item = self.list.currentItem()
        if item is None:
            return None
        i = int(item.data(Qt.ItemDataRole.UserRole))
        return to_uint8(self.index.image(i)[None])[0], self.index.labels[i]


# -- the panel ------------------------------------------------------------------------------

@register_panel
class StyleMixPanel(Panel):
    name = "stylemix"
    title = "Style Mixer"
    open_filter = IMAGE_FILTER

    def __init__(self, ctx: StudioContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self.doc = StyleMixState()
        self.doc.events.connect("sources", self._on_doc_sources)
        self.doc.events.connect("param", self._on_doc_param)
        self.doc.events.connect("selected", self._on_doc_selected)
        self.library = LatentLibrary()
        self.glyphs: DatasetIndex | None = None
        # id(source) -> (source, its W+ under self.doc.model); the source is kept so that an
        # id is never reused while its entry lives.
        self._codes: dict[int, tuple[MixSource, np.ndarray]] = {}
        self.grid_rgb: np.ndarray | None = None
        self.line: np.ndarray | None = None
        self._heads_key: tuple = ()
        self.target = "rows"
        self._applying = False
        self._build_ui()
        self._render_timer = QTimer(self, singleShot=True, interval=10)
        self._render_timer.timeout.connect(self._submit_grid)
        self._text_timer = QTimer(self, singleShot=True, interval=150)
        self._text_timer.timeout.connect(self._submit_text)
        self._refresh_models()

    # -- layout ---------------------------------------------------------------------------

    def _build_ui(self) -> None:
        self.model_combo = ModelCombo("Style generators: the shipped ones and checkpoints "
                                      "you open")
        self.note_label = QLabel()
        self.note_label.setStyleSheet("color: #555;")
        top = QHBoxLayout()
        top.addWidget(QLabel("Model"))
        top.addWidget(self.model_combo)
        top.addStretch(1)
        top.addWidget(self.note_label)

        # Sources: where new ones go, and how they are made.
        self.target_combo = QComboBox()
        self.target_combo.addItem("rows (A)", "rows")
        self.target_combo.addItem("columns (B)", "cols")
        self.target_combo.setToolTip("Where the next source goes (T toggles)")
        self.seed_spin = QSpinBox(minimum=0, maximum=2**31 - 1, value=1)
        self.seed_spin.setToolTip("Seed of the next random source")
        self.add_seed_button = QPushButton("Seed")
        self.add_seed_button.setToolTip("Add a random source with this seed, then step the "
                                        "seed (R)")
        self.open_button = QPushButton("Open…")
        self.open_button.setToolTip("Add a picture (also drop a file on the window)")
        self.paste_button = QPushButton("Paste")
        self.paste_button.setToolTip("Add the clipboard's picture (Ctrl+V)")
        self.lib_button = QPushButton("Library…")
        self.lib_button.setToolTip("Add a latent kept in the latent library")
        self.glyph_button = QPushButton("Glyph…")
        self.glyph_button.setToolTip("Add a glyph from the data set")
        self.remove_button = QPushButton("Remove last")
        src_row = QHBoxLayout()             # two rows, so the panel fits 1000 pixels
        src_row.addWidget(QLabel("Add to"))
        for w in (self.target_combo, self.seed_spin, self.add_seed_button):
            src_row.addWidget(w)
        src_row.addStretch(1)
        src_row2 = QHBoxLayout()
        for w in (self.open_button, self.paste_button, self.lib_button, self.glyph_button,
                  self.remove_button):
            src_row2.addWidget(w)
        src_row2.addStretch(1)

        self.grid_widget = QWidget()
        self.grid_layout = QGridLayout(self.grid_widget)
        self.grid_layout.setSpacing(3)
        self.cell_views: list[list[ImageView]] = []
        self.row_views: list[ImageView] = []
        self.col_views: list[ImageView] = []
        self.empty_label = QLabel("Add rows (A) and columns (B): seeds, pictures, glyphs or "
                                  "library latents. Each cell is its row with the ticked "
                                  "layers taken from its column.")
        self.empty_label.setWordWrap(True)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.grid_widget)

        cell_row = QHBoxLayout()
        self.keep_button = QPushButton("Keep cell")
        self.keep_button.setToolTip("Keep the selected cell's W+ in the latent library")
        self.to_latent_button = QPushButton("Cell to Latent")
        self.to_latent_button.setToolTip("Open the selected cell's W+ in the Latent Explorer")
        self.to_inpaint_button = QPushButton("Cell to Inpainting")
        self.to_inpaint_button.setToolTip("Open the selected cell's picture in the Inpainting "
                                          "panel")
        self.to_eval_button = QPushButton("Grid to Evaluation")
        self.to_eval_button.setToolTip("Write every cell as a PNG and open the folder in the "
                                       "Evaluation panel")
        self.export_button = QPushButton("Export grid…")
        for b in (self.keep_button, self.to_latent_button, self.to_inpaint_button,
                  self.to_eval_button, self.export_button):
            cell_row.addWidget(b)
        cell_row.addStretch(1)

        mix_page = QWidget()
        ml = QVBoxLayout(mix_page)
        ml.addLayout(src_row)
        ml.addLayout(src_row2)
        ml.addWidget(self.empty_label)
        ml.addWidget(scroll, 1)
        ml.addLayout(cell_row)

        # Text page.
        text_page = QWidget()
        tl = QVBoxLayout(text_page)
        self.text_edit = QLineEdit(self.doc.text)
        self.text_edit.setToolTip("Characters to write in the style of the glyphs below")
        self.style_list = QListWidget()
        self.style_list.setViewMode(QListWidget.ViewMode.IconMode)
        self.style_list.setIconSize(QSize(48, 48))
        self.style_list.setMaximumHeight(86)
        self.style_list.setToolTip("The style: one or more glyphs of one font")
        srow = QHBoxLayout()
        self.style_open_button = QPushButton("Open…")
        self.style_paste_button = QPushButton("Paste")
        self.style_glyph_button = QPushButton("Glyph…")
        self.style_cell_button = QPushButton("Selected cell")
        self.style_clear_button = QPushButton("Clear")
        for b in (self.style_open_button, self.style_paste_button, self.style_glyph_button,
                  self.style_cell_button, self.style_clear_button):
            srow.addWidget(b)
        srow.addStretch(1)
        self.line_view = ImageView(minimum=120, caption="in this style")
        self.line_view.placeholder = "Give one or more glyphs of a style, then type"
        self.export_line_button = QPushButton("Export line…")
        tl.addWidget(QLabel("Text"))
        tl.addWidget(self.text_edit)
        tl.addWidget(QLabel("Style glyphs"))
        tl.addWidget(self.style_list)
        tl.addLayout(srow)
        strow = QHBoxLayout()
        self.strength_slider = QSlider(Qt.Orientation.Horizontal)
        self.strength_slider.setRange(0, 150)
        self.strength_slider.setValue(100)
        self.strength_slider.setToolTip("How much of the glyphs' style: 0 is the mean font, 1 "
                                        "the glyphs' own, above 1 exaggerates it")
        self.strength_label = QLabel("style strength 1.00")
        strow.addWidget(self.strength_label)
        strow.addWidget(self.strength_slider, 1)
        tl.addLayout(strow)
        tl.addWidget(self.line_view, 1)
        tl.addWidget(self.export_line_button)

        self.tabs = QTabWidget()
        self.tabs.addTab(mix_page, "Mix grid")
        self.tabs.addTab(text_page, "Write in this style")

        # Right: crossover, truncation, noise.
        cross = QGroupBox("Crossover: layers taken from B")
        cl = QVBoxLayout(cross)
        prow = QHBoxLayout()
        self.preset_buttons: dict[str, QPushButton] = {}
        for name in ("coarse", "middle", "fine", "style"):
            b = QPushButton(name)
            b.clicked.connect(lambda _=False, n=name: self.apply_preset(n))
            self.preset_buttons[name] = b
            prow.addWidget(b)
        cl.addLayout(prow)
        self.layer_grid = QGridLayout()
        cl.addLayout(self.layer_grid)
        self.layer_checks: list[QCheckBox] = []
        self.strength_spins: list[QDoubleSpinBox] = []

        trunc = QGroupBox("Truncation")
        tg = QGridLayout(trunc)
        self.psi_slider = QSlider(Qt.Orientation.Horizontal)
        self.psi_slider.setRange(0, 100)
        self.psi_slider.setValue(100)
        self.psi_label = QLabel("ψ 1.00")
        self.cutoff_spin = QSpinBox(minimum=0, maximum=64, value=0)
        self.cutoff_spin.setSpecialValueText("all")
        self.cutoff_spin.setToolTip("Truncate only layers below this one")
        tg.addWidget(self.psi_label, 0, 0)
        tg.addWidget(self.psi_slider, 0, 1)
        tg.addWidget(QLabel("layers below"), 1, 0)
        tg.addWidget(self.cutoff_spin, 1, 1)
        # A conditional model (a class-conditional StyleGAN pickle): the class seeds draw.
        self.class_label = QLabel("class")
        self.class_spin = QSpinBox(minimum=0, maximum=0, value=0)
        self.class_spin.setToolTip("The class every seed is drawn from (conditional models)")
        tg.addWidget(self.class_label, 2, 0)
        tg.addWidget(self.class_spin, 2, 1)
        self.class_label.setVisible(False)
        self.class_spin.setVisible(False)

        noise = QGroupBox("Noise")
        ng = QGridLayout(noise)
        self.noise_check = QCheckBox("per-layer noise")
        self.noise_seed_spin = QSpinBox(minimum=0, maximum=2**31 - 1, value=0)
        self.dice_button = QPushButton("Roll")
        self.dice_button.setToolTip("A new noise seed")
        ng.addWidget(self.noise_check, 0, 0, 1, 2)
        ng.addWidget(QLabel("seed"), 1, 0)
        ng.addWidget(self.noise_seed_spin, 1, 1)
        ng.addWidget(self.dice_button, 1, 2)
        ng.addWidget(QLabel("Strength per layer is beside each layer above."), 2, 0, 1, 3)

        side = QWidget()
        sl = QVBoxLayout(side)
        sl.setContentsMargins(0, 0, 0, 0)
        sl.addWidget(cross)
        sl.addWidget(trunc)
        sl.addWidget(noise)
        sl.addStretch(1)
        side_scroll = QScrollArea()          # the layer list may be taller than the window
        side_scroll.setWidgetResizable(True)
        side_scroll.setWidget(side)
        side_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        side_scroll.setMinimumWidth(300)
        side_scroll.setMaximumWidth(380)

        body = QHBoxLayout()
        body.addWidget(self.tabs, 1)
        body.addWidget(side_scroll)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addLayout(body, 1)

        self.model_combo.currentIndexChanged.connect(self._on_model_combo_changed)
        self.target_combo.currentIndexChanged.connect(
            lambda i: setattr(self, "target", self.target_combo.itemData(i)))
        self.add_seed_button.clicked.connect(lambda: self.add_seed())
        self.open_button.clicked.connect(lambda: self._open_dialog(self.target))
        self.paste_button.clicked.connect(lambda: self.paste(self.target))
        self.lib_button.clicked.connect(self._on_library_clicked)
        self.glyph_button.clicked.connect(lambda: self.pick_glyph(self.target))
        self.remove_button.clicked.connect(lambda: self.remove_last(self.target))
        self.keep_button.clicked.connect(self._on_keep_clicked)
        self.to_latent_button.clicked.connect(self.send_cell_to_latent)
        self.to_inpaint_button.clicked.connect(self.send_cell_to_inpainting)
        self.to_eval_button.clicked.connect(self.send_grid_to_evaluation)
        self.export_button.clicked.connect(lambda: self.export())
        self.text_edit.textChanged.connect(
            lambda t: self.push_param("text", self.doc.text, t))
        self.style_open_button.clicked.connect(lambda: self._open_dialog("style"))
        self.style_paste_button.clicked.connect(lambda: self.paste("style"))
        self.style_glyph_button.clicked.connect(lambda: self.pick_glyph("style"))
        self.style_cell_button.clicked.connect(self.style_from_cell)
        self.style_clear_button.clicked.connect(
            lambda: self.undo_stack.push(SetSourcesCommand(self, "style", [], "Clear style")))
        self.export_line_button.clicked.connect(lambda: self.export_line())
        self.strength_slider.valueChanged.connect(
            lambda v: self.push_param("style_strength", self.doc.style_strength, v / 100.0))
        self.psi_slider.valueChanged.connect(
            lambda v: self.push_param("psi", self.doc.psi, v / 100.0))
        self.cutoff_spin.valueChanged.connect(
            lambda v: self.push_param("cutoff", self.doc.cutoff, v))
        self.class_spin.valueChanged.connect(
            lambda v: self.push_param("label", self.doc.label, v))
        self.noise_check.toggled.connect(
            lambda on: self.push_param("noise", self.doc.noise, on))
        self.noise_seed_spin.valueChanged.connect(
            lambda v: self.push_param("noise_seed", self.doc.noise_seed, v))
        self.dice_button.clicked.connect(self.roll_noise_seed)
        self.add_shortcut("Ctrl+V", lambda: self.paste(self.target),
                          "Paste a picture as a new row or column")
        self.add_shortcut("R", lambda: self.add_seed(), "Add a random source")
        self.add_shortcut("T", self._toggle_target, "Add to rows / columns (toggle)")
        self._rebuild_grid()

    # -- models ---------------------------------------------------------------------------

    def _refresh_models(self) -> None:
        infos = [i for i in self.ctx.registry.infos(Capability.STYLE_MIX) if i.style]
        name = self.model_combo.set_models(infos, self.doc.model)
        if name != self.doc.model:
            self.doc.set_param("model", name)
        if not infos:
            self.empty_label.setText("No style generator is registered. Train one "
                                     "('latent-studio train stylegen') or open a checkpoint.")

    def backend_changed(self) -> None:
        self._refresh_models()
        self.schedule()

    def spec(self):
        return self.ctx.registry.info(self.doc.model).style if self.doc.model else None

    def _on_model_combo_changed(self, index: int) -> None:
        name = self.model_combo.itemData(index)
        if name and name != self.doc.model:
            self.push_param("model", self.doc.model, name)

    def _build_layer_controls(self) -> None:
        for w in self.layer_checks + self.strength_spins:
            w.deleteLater()
        self.layer_checks, self.strength_spins = [], []
        while self.layer_grid.count():
            item = self.layer_grid.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        spec = self.spec()
        if spec is None:
            return
        res = spec.resolutions or (0,) * spec.layers
        self.layer_grid.addWidget(QLabel("layer"), 0, 0)
        self.layer_grid.addWidget(QLabel("noise ×"), 0, 1)
        for k in range(spec.layers):
            what = ("content" if k < spec.content_layers else "style") \
                if spec.content_layers else ""
            box = QCheckBox(f"{k}  ({res[k]}²{', ' + what if what else ''})")
            box.setChecked(k in self.doc.from_b)
            box.toggled.connect(lambda _on, k=k: self._on_layer_toggled(k))
            spin = QDoubleSpinBox(minimum=0.0, maximum=1000.0, singleStep=25.0, value=1.0,
                                  decimals=1)
            spin.setToolTip(f"Noise strength of layer {k}, times the one it learned")
            spin.valueChanged.connect(lambda _v: self._on_strength_changed())
            self.layer_grid.addWidget(box, k + 1, 0)
            self.layer_grid.addWidget(spin, k + 1, 1)
            self.layer_checks.append(box)
            self.strength_spins.append(spin)
        model = self.doc.model
        self.ctx.jobs.submit(f"{self.name}-noise", learned_noise, self.ctx.registry, model,
                             lane="io", label=f"Loading {model}",
                             on_result=lambda v, m=model: self._show_learned_noise(v, m),
                             on_error=self.error.emit)
        for name, b in self.preset_buttons.items():
            rows = sm.presets(spec).get(name, ())
            b.setEnabled(bool(rows))
            b.setToolTip(f"Take layers {', '.join(map(str, rows))} from B" if rows else
                         "This model has no such layers")

    def _show_learned_noise(self, learned: tuple[float, ...], model: str) -> None:
        if model != self.doc.model:
            return
        for k, spin in enumerate(self.strength_spins):
            if k < len(learned):
                spin.setToolTip(f"Noise strength of layer {k}, times the one it learned "
                                f"({learned[k]:.4f}; an autoencoder learns to need little "
                                "noise, so try ×100 and more to see what the layer does "
                                "with it)")

    # -- parameters -----------------------------------------------------------------------

    def push_param(self, name: str, old: Any, new: Any) -> None:
        if self._applying or old == new:
            return
        self.undo_stack.push(ParamCommand(self.apply_param, name, old, new))

    def apply_param(self, name: str, value: Any) -> None:
        self.doc.set_param(name, value)

    def _on_doc_param(self, name: str) -> None:
        self._applying = True
        try:
            if name == "model":
                self._codes.clear()
                if self.doc.model in self.model_combo.names():
                    self.model_combo.select(self.doc.model, quiet=True)
                classes = self.ctx.registry.info(self.doc.model).classes \
                    if self.doc.model else ()
                self.class_spin.setMaximum(max(len(classes) - 1, 0))
                self.class_label.setVisible(bool(classes))
                self.class_spin.setVisible(bool(classes))
                self._build_layer_controls()
                spec = self.spec()
                if spec is not None:
                    # Rows the new model lacks are dropped; none left: its style rows.
                    kept = tuple(k for k in self.doc.from_b if k < spec.layers)
                    self.doc.from_b = kept or sm.presets(spec).get(
                        "style", sm.presets(spec)["fine"])
                    self.doc.strengths = self.doc.strengths[:spec.layers]
                for k, spin in enumerate(self.strength_spins):
                    spin.setValue(self.doc.strengths[k] if k < len(self.doc.strengths)
                                  else 1.0)
                self._sync_layer_checks()
            elif name == "from_b":
                self._sync_layer_checks()
            elif name == "psi":
                self.psi_slider.setValue(round(self.doc.psi * 100))
                self.psi_label.setText(f"ψ {self.doc.psi:.2f}")
            elif name == "cutoff":
                self.cutoff_spin.setValue(int(self.doc.cutoff))
            elif name == "label":
                self._codes.clear()               # seeds draw again, of the new class
                self.class_spin.setValue(int(self.doc.label))
            elif name == "noise":
                self.noise_check.setChecked(bool(self.doc.noise))
            elif name == "noise_seed":
                self.noise_seed_spin.setValue(int(self.doc.noise_seed))
            elif name == "strengths":
                for k, spin in enumerate(self.strength_spins):
                    spin.setValue(self.doc.strengths[k] if k < len(self.doc.strengths) else 1.0)
            elif name == "text":
                if self.text_edit.text() != self.doc.text:
                    self.text_edit.setText(self.doc.text)
            elif name == "style_strength":
                self.strength_slider.setValue(round(self.doc.style_strength * 100))
                self.strength_label.setText(f"style strength {self.doc.style_strength:.2f}")
        finally:
            self._applying = False
        if name in ("text", "model", "psi", "style_strength"):
            self._text_timer.start()
        if name != "style_strength" and name != "text":
            self.schedule()

    def _sync_layer_checks(self) -> None:
        for k, box in enumerate(self.layer_checks):
            box.blockSignals(True)
            box.setChecked(k in self.doc.from_b)
            box.blockSignals(False)

    def _on_layer_toggled(self, k: int) -> None:
        new = set(self.doc.from_b) ^ {k}
        self.undo_stack.push(ParamCommand(self.apply_param, "from_b", self.doc.from_b,
                                             tuple(sorted(new))))

    def set_crossover(self, layers: tuple[int, ...]) -> None:
        self.push_param("from_b", self.doc.from_b, tuple(sorted(set(layers))))

    def apply_preset(self, name: str) -> None:
        spec = self.spec()
        if spec is not None:
            self.set_crossover(sm.presets(spec).get(name, ()))

    def _on_strength_changed(self) -> None:
        if self._applying:
            return
        self.push_param("strengths", self.doc.strengths,
                        tuple(s.value() for s in self.strength_spins))

    def roll_noise_seed(self) -> None:
        new = int(np.random.default_rng().integers(0, 2**31 - 1))
        self.undo_stack.push(ParamCommand(self.apply_param, "noise_seed", self.doc.noise_seed, new))
        if not self.doc.noise:
            self.undo_stack.push(ParamCommand(self.apply_param, "noise", False, True))

    # -- sources --------------------------------------------------------------------------

    def _toggle_target(self) -> None:
        self.target_combo.setCurrentIndex(1 - self.target_combo.currentIndex())

    def add_source(self, which: str, source: MixSource) -> None:
        current = self.doc.sources(which)
        if len(current) >= MAX_SOURCES:
            self.error.emit(f"At most {MAX_SOURCES} {which}; remove one first", "")
            return
        self.undo_stack.push(SetSourcesCommand(self, which, current + [source],
                                               f"Add {WHICH[which]} {source.label}"))
        if source.note:
            self.message.emit(f"{source.label}: {source.note}")

    def add_seed(self, which: str | None = None, seed: int | None = None) -> None:
        seed = int(self.seed_spin.value() if seed is None else seed)
        self.add_source(which or self.target, MixSource("seed", f"seed {seed}", seed=seed))
        self.seed_spin.setValue(seed + 1)

    def remove_last(self, which: str) -> None:
        current = self.doc.sources(which)
        if current:
            self.undo_stack.push(SetSourcesCommand(self, which, current[:-1],
                                                   f"Remove {current[-1].label}"))

    def add_picture(self, which: str, rgb: np.ndarray, label: str, note: str = "") -> None:
        self.add_source(which, MixSource("picture", label, picture=rgb, note=note))

    def _open_dialog(self, which: str) -> None:
        path = dialogs.open_file(self, "picture", "Open picture", IMAGE_FILTER)
        if path:
            self.open_picture_file(path, which)

    def open_picture_file(self, path: str, which: str) -> None:
        self.ctx.jobs.submit(f"{self.name}-read", read_source, path, lane="io",
                             label=f"Reading {Path(path).name}",
                             on_result=lambda r: self.add_picture(which, r[0], Path(path).name,
                                                                  r[1]),
                             on_error=self.error.emit)

    def open_file(self, path: str) -> None:
        if Path(path).suffix.lower() in (".pkl", ".safetensors", ".pt", ".pth", ".ckpt"):
            self.register_checkpoint(path)
            return
        self.open_picture_file(path, self.target)

    def register_checkpoint(self, path: str,
                            then: Callable[[BackendInfo], None] | None = None) -> None:
        """A style generator opened here (File > Open Checkpoint, a dropped .pkl) is chosen
        at once; anything else joins the registry with a message."""
        def chosen(info: BackendInfo) -> None:
            if Capability.STYLE_MIX in info.capabilities:
                self.push_param("model", self.doc.model, info.name)
            else:
                self.error.emit(f"{info.name} is not a style generator; it cannot drive this "
                                "panel", "")

        super().register_checkpoint(path, then or chosen)

    def paste(self, which: str) -> None:
        arr, path, why = clipboard_picture()
        if arr is not None:
            self.add_picture(which, keep_source(Image.fromarray(arr)), "pasted",
                             "pasted from the clipboard")
        elif path:
            self.open_picture_file(path, which)
        else:
            self.error.emit(why, "")

    def _on_library_clicked(self) -> None:
        names = [n for n, e in self.library.entries.items() if e["model"] == self.doc.model]
        if not names:
            self.error.emit(f"The latent library holds no latent of {self.doc.model}; keep a "
                            "cell or a Latent Explorer latent first", "")
            return
        name, ok = QInputDialog.getItem(self, "From the latent library", "Latent:", names, 0,
                                        False)
        if ok:
            self.add_library(self.target, name)

    def add_library(self, which: str, name: str) -> None:
        entry = self.library.entries[name]
        self.add_source(which, MixSource("latent", name, latent=self.library.latent(name),
                                         model=entry["model"]))

    def pick_glyph(self, which: str) -> None:
        if self.glyphs is None:
            self.ctx.jobs.submit(f"{self.name}-glyphs", open_glyphs, lane="io",
                                 label="Opening the glyph data set",
                                 on_result=lambda idx: self._glyphs_ready(idx, which),
                                 on_error=self.error.emit)
            return
        dialog = GlyphPicker(self.glyphs, self)
        if dialog.exec() == QDialog.DialogCode.Accepted and (got := dialog.chosen()):
            self.add_picture(which, got[0], got[1])

    def _glyphs_ready(self, index: DatasetIndex | None, which: str) -> None:
        if index is None:
            self.error.emit("The glyph data set is not built: build it in the Latent "
                            "Explorer's Data set tab or with 'latent-studio data build "
                            "glyphs'", "")
            return
        self.glyphs = index
        self.pick_glyph(which)

    def _on_doc_sources(self, which: str) -> None:
        if which == "style":
            self.style_list.clear()
            for s in self.doc.style:
                item = QListWidgetItem(self._source_icon(s), "")
                item.setToolTip(s.label)
                self.style_list.addItem(item)
            self._text_timer.start()
            return
        self._rebuild_grid()
        self.schedule()

    def _source_icon(self, s: MixSource) -> QIcon:
        if s.picture is not None:
            return QIcon(QPixmap.fromImage(to_qimage(np.ascontiguousarray(s.picture))))
        return QIcon()

    # -- the grid -------------------------------------------------------------------------

    def _rebuild_grid(self) -> None:
        while self.grid_layout.count():
            item = self.grid_layout.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        rows, cols = self.doc.rows, self.doc.cols
        self._heads_key = ()                 # new views: their pictures come again
        self.empty_label.setVisible(not rows or not cols)
        self.row_views = []
        self.col_views = []
        self.cell_views = []
        corner = QLabel("A \\ B")
        corner.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.grid_layout.addWidget(corner, 0, 0)
        for j, s in enumerate(cols):
            v = ImageView(minimum=72, caption=f"B{j + 1}: {s.label}")
            if s.picture is not None:
                v.set_image(s.picture)
            self.grid_layout.addWidget(v, 0, j + 1)
            self.col_views.append(v)
        for i, s in enumerate(rows):
            v = ImageView(minimum=72, caption=f"A{i + 1}: {s.label}")
            if s.picture is not None:
                v.set_image(s.picture)
            self.grid_layout.addWidget(v, i + 1, 0)
            self.row_views.append(v)
            line = []
            for j in range(len(cols)):
                c = ImageView(minimum=72)
                c.clicked.connect(lambda i=i, j=j: self.doc.select((i, j)))
                self.grid_layout.addWidget(c, i + 1, j + 1)
                line.append(c)
            self.cell_views.append(line)
        self._on_doc_selected(self.doc.selected)

    def _on_doc_selected(self, cell: tuple[int, int] | None) -> None:
        for i, line in enumerate(self.cell_views):
            for j, v in enumerate(line):
                v.highlight = cell == (i, j)
                v.update()

    def schedule(self) -> None:
        """Re-render soon (several changes in one event-loop turn render once)."""
        self._render_timer.start()

    def _known(self, sources: list[MixSource]) -> dict[int, np.ndarray]:
        return {id(s): c for s in sources if (c := self.code_of(s)) is not None}

    def code_of(self, source: MixSource) -> np.ndarray | None:
        """The W+ of a source under the current model, once a render has computed it."""
        kept = self._codes.get(id(source))
        return kept[1] if kept is not None and kept[0] is source else None

    def _remember(self, sources: list[MixSource], new: dict[int, np.ndarray]) -> None:
        self._codes.update({id(s): (s, new[id(s)]) for s in sources if id(s) in new})

    def _submit_grid(self) -> None:
        rows, cols, spec = self.doc.rows, self.doc.cols, self.spec()
        if not rows or not cols or spec is None:
            self.grid_rgb = None
            return
        seed, strengths = self.doc.noise_request()
        cutoff = int(self.doc.cutoff) or None
        model = self.doc.model
        # The row and column pictures change with the sources, truncation and noise only.
        heads_key = (model, tuple(map(id, rows)), tuple(map(id, cols)), self.doc.psi, cutoff,
                     seed, strengths, self.doc.label)
        heads = heads_key != self._heads_key
        self.ctx.jobs.submit(
            f"{self.name}-grid", render_grid, self.ctx.registry, model, rows, cols,
            self._known(rows + cols), self.doc.from_b, self.doc.psi, cutoff, seed, strengths,
            heads, int(self.doc.label), label="Mixing styles",
            on_result=lambda r, m=model, k=heads_key, src=rows + cols: self._show_grid(
                r, m, k, src),
            on_error=self.error.emit)

    def _show_grid(self, result, model: str, heads_key: tuple = (),
                   sources: list[MixSource] = ()) -> None:
        grid, row_pics, col_pics, new = result
        if model != self.doc.model:
            return
        self._remember(list(sources), new)
        if grid.shape[:2] != (len(self.doc.rows), len(self.doc.cols)):
            return          # the sources changed meanwhile; their render is on its way
        self.grid_rgb = grid
        if row_pics is not None:
            self._heads_key = heads_key
            for i, v in enumerate(self.row_views):
                v.set_image(row_pics[i])
            for j, v in enumerate(self.col_views):
                v.set_image(col_pics[j])
        for i, line in enumerate(self.cell_views):
            for j, v in enumerate(line):
                v.set_image(grid[i, j])
        layers = ", ".join(map(str, self.doc.from_b)) or "none"
        self.note_label.setText(f"B gives layers {layers}; ψ {self.doc.psi:.2f}")

    def cell_codes(self, cell: tuple[int, int] | None = None) -> np.ndarray | None:
        """The mixed W+ of a cell (default: the selected one), before truncation."""
        cell = cell or self.doc.selected
        if cell is None:
            return None
        a, b = self.doc.rows[cell[0]], self.doc.cols[cell[1]]
        code_a, code_b = self.code_of(a), self.code_of(b)
        if code_a is None or code_b is None:
            return None
        out = code_a.copy()
        rows = list(self.doc.from_b)
        out[rows] = code_b[rows]
        spec = self.spec()
        if self.doc.psi != 1.0:
            mean = self.ctx.registry.get(self.doc.model).mean_code()
            n = int(self.doc.cutoff) or spec.layers
            out[:n] = mean[:n] + self.doc.psi * (out[:n] - mean[:n])
        return out

    def _need_cell(self) -> np.ndarray | None:
        codes = self.cell_codes()
        if codes is None:
            self.error.emit("Click a cell of the grid first", "")
        return codes

    def _on_keep_clicked(self) -> None:
        codes = self._need_cell()
        if codes is None:
            return
        i, j = self.doc.selected
        default = self.library.unique_name(f"mix A{i + 1}×B{j + 1}")
        name, ok = QInputDialog.getText(self, "Keep latent", "Name:", text=default)
        if ok:
            self.keep_cell(name)

    def keep_cell(self, name: str) -> str | None:
        codes = self.cell_codes()
        if codes is None:
            return None
        name = self.library.add(name, self.doc.model, codes.reshape(-1), "style mix")
        self.message.emit(f"Kept '{name}' in the latent library")
        return name

    def send_cell_to_latent(self) -> None:
        codes = self._need_cell()
        if codes is not None:
            i, j = self.doc.selected
            self.send_latent.emit(self.doc.model, codes.reshape(-1), f"A{i + 1}×B{j + 1}")

    def send_cell_to_inpainting(self) -> None:
        if self._need_cell() is not None and self.grid_rgb is not None:
            i, j = self.doc.selected
            self.send_picture.emit(self.grid_rgb[i, j].copy(), f"A{i + 1}×B{j + 1}")

    def send_grid_to_evaluation(self) -> None:
        if self.grid_rgb is None:
            self.error.emit("Nothing to send yet: add rows and columns", "")
            return
        folder = Path(tempfile.mkdtemp(prefix="stylemix-"))
        for i in range(self.grid_rgb.shape[0]):
            for j in range(self.grid_rgb.shape[1]):
                Image.fromarray(self.grid_rgb[i, j]).save(folder / f"A{i + 1}-B{j + 1}.png")
        self.send_to_evaluation.emit(str(folder), f"style mix ({self.doc.model})")

    def grid_picture(self, scale: int = 1) -> np.ndarray:
        """The grid as one RGB picture: a header row of the columns (B), a header column of
        the rows (A), the cells, grey lines between."""
        g = self.grid_rgb
        blank = np.full(g.shape[2:], 255, np.uint8)
        heads_b = np.stack([v.image() if v.image() is not None else blank
                            for v in self.col_views])
        heads_a = np.stack([v.image() if v.image() is not None else blank
                            for v in self.row_views])
        return sm.grid_picture(g, heads_a, heads_b, scale)

    def grid_recipe(self) -> Any:
        """The recipe of the grid shown: its rows' and columns' W+ codes, the crossover,
        truncation and noise (``latent-studio replay`` makes the export again); None while a
        source's code is still being computed."""
        from models import device as devices
        from models.recipe import Recipe

        codes = [self.code_of(s) for s in self.doc.rows + self.doc.cols]
        if any(c is None for c in codes):
            return None
        n = len(self.doc.rows)
        seed, strengths = self.doc.noise_request()
        params = {"from_b": list(self.doc.from_b), "psi": float(self.doc.psi),
                  "cutoff": int(self.doc.cutoff) or None, "seed": seed,
                  "strengths": list(strengths), "scale": EXPORT_SCALE,
                  "rows": [s.label for s in self.doc.rows],
                  "cols": [s.label for s in self.doc.cols]}
        return Recipe.of("stylemix-grid", params,
                         model_info=self.ctx.registry.info(self.doc.model),
                         arrays={"a": np.stack(codes[:n]), "b": np.stack(codes[n:])},
                         device=devices.current_device())

    def export(self, path: str | None = None) -> None:
        if self.grid_rgb is None:
            self.error.emit("Nothing to export yet: add rows and columns", "")
            return
        if path is None:
            path = ask_png(self, "Export grid", "style-mix.png")
            if not path:
                return
        from models.image.io import save_image

        picture = self.grid_picture(EXPORT_SCALE)
        recipe = self.grid_recipe()
        if not self.write_or_say(
                lambda: save_image(picture.astype(np.float32) / 255.0, path, recipe=recipe),
                path):
            return
        if recipe is not None:
            self.result_made.emit(recipe, self.grid_picture(), self.title)
        self.message.emit(f"Exported the grid to {path}")

    def restore_recipe(self, recipe: Any, note: str = "") -> None:
        """An exported grid's recipe (or a 'latent-studio stylemix' mix): the model, the rows
        and columns (as their codes, seeds or pictures), the crossover, truncation and
        noise, as they were."""
        if recipe.task not in ("stylemix-grid", "stylemix") or \
                recipe.params.get("mode", "mix") != "mix":
            self.error.emit(f"a {recipe.task} of this kind is not restored in the Style "
                            "Mixer: 'latent-studio replay' makes it again", "")
            return
        self.ctx.jobs.submit(f"{self.name}-restore", restore_sources, self.ctx.registry,
                             recipe, lane="io", label="Opening the recipe's model and sources",
                             on_result=lambda r: self._restored(recipe, *r, note=note),
                             on_error=self.error.emit)

    def _restored(self, recipe: Any, model: str, rows: list[MixSource],
                  cols: list[MixSource], note: str = "") -> None:
        p = recipe.params
        self.begin_restore(model)
        self.push_param("model", self.doc.model, model)
        layers = p.get("from_b", p.get("layers", ()))
        if isinstance(layers, str):
            layers = sm.parse_layers(layers, self.spec().layers)
        seed = p.get("seed")
        strengths = p.get("strengths")
        for name, value in (("from_b", tuple(int(v) for v in layers)),
                            ("psi", float(p.get("psi", 1.0))),
                            ("cutoff", int(p.get("cutoff") or 0)),
                            ("noise", seed is not None),
                            ("noise_seed", int(seed) if seed is not None else
                             self.doc.noise_seed),
                            ("label", int(p.get("class", self.doc.label)))):
            if name == "from_b":
                self.set_crossover(value)
            else:
                self.push_param(name, getattr(self.doc, name), value)
        if strengths:
            self.push_param("strengths", self.doc.strengths, tuple(strengths))
        self.undo_stack.push(SetSourcesCommand(self, "rows", rows, "Rows of the recipe"))
        self.undo_stack.push(SetSourcesCommand(self, "cols", cols, "Columns of the recipe"))
        self.undo_stack.endMacro()
        self.message.emit(f"Restored the recipe's grid with {model}")
        if note:
            self.error.emit(f"Restored, but {note}", "")

    # -- write in this style --------------------------------------------------------------

    def style_from_cell(self) -> None:
        codes = self._need_cell()
        if codes is None:
            return
        i, j = self.doc.selected
        z = codes.reshape(-1)
        self.undo_stack.push(SetSourcesCommand(
            self, "style", self.doc.style + [MixSource("latent", f"A{i + 1}×B{j + 1}",
                                                       latent=z, model=self.doc.model)],
            "Add style glyph"))

    def _submit_text(self) -> None:
        if not self.doc.style or not self.doc.model or not self.doc.text.strip():
            self.line = None
            self.line_view.set_image(None)
            return
        model = self.doc.model
        self.ctx.jobs.submit(
            f"{self.name}-text", render_text, self.ctx.registry, model, self.doc.style,
            self.doc.text, self._known(self.doc.style), self.doc.psi, self.doc.style_strength,
            label="Writing in this style",
            on_result=lambda r, m=model, src=list(self.doc.style): self._show_line(r, m, src),
            on_error=self.error.emit)

    def _show_line(self, result, model: str, sources: list[MixSource] = ()) -> None:
        line, rgb, new = result
        if model != self.doc.model:
            return
        self._remember(list(sources), new)
        self.line = line
        self.line_view.set_image(rgb)

    def export_line(self, path: str | None = None) -> None:
        if self.line is None:
            self.error.emit("Nothing to export yet: give style glyphs and text", "")
            return
        if path is None:
            path = ask_png(self, "Export line", "in-this-style.png")
            if not path:
                return
        rgb = to_uint8(self.line[None])[0]
        img = Image.fromarray(rgb)
        if self._save(img.resize((img.width * 4, img.height * 4), Image.Resampling.BICUBIC),
                      path):
            self.message.emit(f"Exported the line to {path}")

    def _save(self, img: Image.Image, path: str) -> bool:
        """Write a picture whole or not at all; a failure is said in our words."""
        from models.files import save_picture

        return self.write_or_say(lambda: save_picture(img, path), path)

    # -- sessions -------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return self.doc.to_state()

    def restore_state(self, state: dict[str, Any]) -> None:
        model = state.get("model", "")
        if model and model not in [i.name for i in self.ctx.registry.infos()]:
            self.error.emit(f"The session's style model '{model}' is not registered; open its "
                            "checkpoint first", "")
            state = {k: v for k, v in state.items() if k != "model"}
        self._codes.clear()
        self.doc.restore(state)
        self.undo_stack.clear()

    def shutdown(self) -> None:
        self._render_timer.stop()
        self._text_timer.stop()
        super().shutdown()


if __name__ == "__main__":
    from studio.panels.standalone import run_standalone

    raise SystemExit(run_standalone(StyleMixPanel))
