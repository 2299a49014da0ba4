"""The model chooser every panel uses: registered models of one capability, by name."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QWidget

from models.protocol import BackendInfo


def describe_model(info: BackendInfo) -> str:
    """A model's line in the chooser: its name and what it works on."""
    if info.image_shape:
        shape = "x".join(map(str, info.image_shape))
        latent = f", {info.latent_size}-d" if info.latent_size else ""
        return f"{info.name}  ({shape}{latent})"
    return info.name


class ModelCombo(QComboBox):
    """Lists BackendInfos (each item's data is the model's name, its tooltip the model's
    description); ``set_models`` keeps the current choice when it is still there."""

    def __init__(self, tooltip: str = "", parent: QWidget | None = None,
                 label: Callable[[BackendInfo], str] = describe_model) -> None:
        super().__init__(parent)
        self._label = label
        self.setMinimumWidth(150)
        self.setToolTip(tooltip)

    @property
    def current_name(self) -> str:
        return str(self.currentData() or "")

    def names(self) -> list[str]:
        return [str(self.itemData(i)) for i in range(self.count())]

    def set_models(self, infos: list[BackendInfo], prefer: str = "") -> str:
        """Fill the list without emitting changes; select ``prefer``, else the current one,
        else the first. Returns the selected name ("" when the list is empty)."""
        keep = prefer or self.current_name
        self.blockSignals(True)
        self.clear()
        for info in infos:
            self.addItem(self._label(info), info.name)
            self.setItemData(self.count() - 1, info.description, Qt.ItemDataRole.ToolTipRole)
        names = self.names()
        pick = keep if keep in names else (names[0] if names else "")
        if pick:
            self.setCurrentIndex(names.index(pick))
        self.blockSignals(False)
        return pick

    def select(self, name: str, quiet: bool = False) -> None:
        """Choose ``name`` (KeyError if it is not listed); ``quiet`` emits no change."""
        index = self.findData(name)
        if index < 0:
            raise KeyError(f"no model named '{name}' in this list")
        self.blockSignals(quiet)
        self.setCurrentIndex(index)
        self.blockSignals(False)
