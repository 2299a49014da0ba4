"""Models panel: every registered backend, its capabilities and model card; load your own."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio import dialogs
from studio.jobs import describe_error
from studio.panels import register_panel
from studio.panels.base import Panel, StudioContext
from studio.widgets.record_view import RecordView

_COLUMNS = ("Name", "Family", "Capabilities", "Source", "Data", "Latent", "Quality")
# HiFi-GAN generator files (jik876) have no extension: "g_02500000" with config.json beside.
CHECKPOINT_FILTER = ("Checkpoints (*.safetensors *.pt *.pth *.ckpt *.pkl model_index.json "
                     "config.yaml);;HiFi-GAN and BigVGAN generators (g_* generator* "
                     "bigvgan_generator.pt);;All files (*)")


@register_panel
class ModelsPanel(Panel):
    name = "models"
    title = "Models"
    open_filter = CHECKPOINT_FILTER

    def __init__(self, ctx: StudioContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self.table = QTableWidget(0, len(_COLUMNS))
        self.table.setHorizontalHeaderLabels(_COLUMNS)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.card_view = RecordView(placeholder="Select a model to see its card.")
        self.open_button = QPushButton("Open Checkpoint…")
        self.open_button.setToolTip("Load your own weights: .safetensors with a JSON card "
                                    "beside it, a weights-only .pt, or a HiFi-GAN generator with "
                                    "its config.json")
        self.open_button.clicked.connect(self._on_open_clicked)
        top = QHBoxLayout()
        intro = QLabel("Shipped models and the checkpoints you opened. Each card says how the "
                       "model was trained and how it measured against its baseline.")
        intro.setWordWrap(True)
        top.addWidget(intro, 1)
        top.addWidget(self.open_button)
        split = QSplitter()
        split.addWidget(self.table)
        split.addWidget(self.card_view)
        split.setSizes([700, 400])
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(split, 1)
        self.table.itemSelectionChanged.connect(self._on_table_selection)
        self.refresh()

    def refresh(self) -> None:
        infos = self.ctx.registry.infos()
        self.table.setRowCount(len(infos))
        for r, info in enumerate(infos):
            quality = ", ".join(f"{k}={v:g}" for k, v in list(info.metrics.items())[:3])
            data = ("x".join(map(str, info.image_shape)) if info.mel is None else
                    f"{info.mel.sample_rate} Hz, {info.mel.n_mels} mel, hop {info.mel.hop}")
            cells = (info.name, info.family, ", ".join(info.capabilities.names), info.source,
                     data, str(info.latent_size or ""), quality)
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(info.path if c == 0 else text)
                self.table.setItem(r, c, item)
        self.table.resizeColumnsToContents()
        if infos and not self.table.selectedItems():
            self.table.selectRow(0)

    def _on_table_selection(self) -> None:
        rows = {i.row() for i in self.table.selectedItems()}
        if not rows:
            return
        name = self.table.item(min(rows), 0).text()
        try:
            card = self.ctx.registry.card(name)
        except Exception as exc:  # a card can vanish or break after registration
            self.card_view.set_text(describe_error(exc))
            return
        self.card_view.set_record(card)

    def _on_open_clicked(self) -> None:
        path = dialogs.open_file(self, "checkpoint", "Open Checkpoint", self.open_filter)
        if path:
            self.open_file(path)

    def open_file(self, path: str) -> None:
        self.register_checkpoint(path)

    def backend_changed(self) -> None:
        self.refresh()


if __name__ == "__main__":
    from studio.panels.standalone import run_standalone

    raise SystemExit(run_standalone(ModelsPanel))
