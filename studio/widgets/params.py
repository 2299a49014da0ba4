"""A row of controls built from a backend's ParamSpecs (iterations, steps, guidance, ...)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QSpinBox,
    QWidget,
)

from models.protocol import ParamSpec


class ParamsRow(QWidget):
    """One labelled control per setting; ``values()`` gives what the backend call takes."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.specs: tuple[ParamSpec, ...] = ()
        self.controls: dict[str, QWidget] = {}
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)

    def set_specs(self, specs: tuple[ParamSpec, ...]) -> None:
        """Rebuild the controls; a setting of the same name and kind keeps its value."""
        old = self.values()
        while self._layout.count():
            w = self._layout.takeAt(0).widget()
            if w is not None:
                w.deleteLater()
        self.specs, self.controls = tuple(specs), {}
        for spec in self.specs:
            control = self._control(spec)
            control.setToolTip(spec.help or spec.name)
            control.setObjectName(f"param-{spec.name}")
            if spec.kind != "bool":
                self._layout.addWidget(QLabel(spec.name.replace("_", " ")))
            self._layout.addWidget(control)
            self.controls[spec.name] = control
            if spec.name in old:
                try:
                    self.set_value(spec.name, spec.check(old[spec.name]))
                except ValueError:
                    pass
        self.setVisible(bool(self.specs))

    def _control(self, spec: ParamSpec) -> QWidget:
        if spec.kind == "int":
            w = QSpinBox()
            w.setRange(int(spec.minimum if spec.minimum is not None else -2**31),
                       int(spec.maximum if spec.maximum is not None else 2**31 - 1))
            w.setValue(int(spec.default))
            w.valueChanged.connect(self.changed)
        elif spec.kind == "float":
            w = QDoubleSpinBox()
            w.setDecimals(3)
            w.setRange(spec.minimum if spec.minimum is not None else -1e9,
                       spec.maximum if spec.maximum is not None else 1e9)
            w.setValue(float(spec.default))
            w.valueChanged.connect(self.changed)
        elif spec.kind == "choice":
            w = QComboBox()
            w.addItems(list(spec.choices))
            w.setCurrentText(str(spec.default))
            w.currentTextChanged.connect(self.changed)
        else:
            w = QCheckBox(spec.name.replace("_", " "))
            w.setChecked(bool(spec.default))
            w.toggled.connect(self.changed)
        if spec.unit and spec.kind in ("int", "float"):
            w.setSuffix(f" {spec.unit}")
        return w

    def values(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for spec in self.specs:
            w = self.controls[spec.name]
            if isinstance(w, (QSpinBox, QDoubleSpinBox)):
                out[spec.name] = w.value()
            elif isinstance(w, QComboBox):
                out[spec.name] = w.currentText()
            else:
                out[spec.name] = w.isChecked()
        return out

    def set_value(self, name: str, value: Any) -> None:
        w = self.controls[name]
        if isinstance(w, (QSpinBox, QDoubleSpinBox)):
            w.setValue(value)
        elif isinstance(w, QComboBox):
            w.setCurrentText(str(value))
        else:
            w.setChecked(bool(value))
