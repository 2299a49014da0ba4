"""A nested record (a model card, a metric result) as a readable tree, its JSON one tab away."""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtWidgets import QPlainTextEdit, QTabWidget, QTreeWidget, QTreeWidgetItem, QWidget

# Lists longer than this are summarised in one row (a history of 300 epochs is not read).
LIST_ROWS = 12


def format_value(value: Any) -> str:
    """One cell: numbers to 4 significant digits, short lists inline."""
    if isinstance(value, bool) or value is None:
        return str(value).lower() if value is not None else "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list) and all(not isinstance(v, (dict, list)) for v in value):
        text = ", ".join(format_value(v) for v in value[:LIST_ROWS])
        return text + (f", … ({len(value)} in all)" if len(value) > LIST_ROWS else "")
    return str(value)


def _label(key: str) -> str:
    return key.replace("_", " ")


class RecordView(QTabWidget):
    """Tabs *Table* (a tree of fields and values) and *JSON* (the record as it is stored)."""

    def __init__(self, parent: QWidget | None = None, placeholder: str = "") -> None:
        super().__init__(parent)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Field", "Value"])
        self.tree.setAlternatingRowColors(True)
        self.tree.setUniformRowHeights(True)
        self.json_view = QPlainTextEdit(readOnly=True)
        self.json_view.setPlaceholderText(placeholder)
        self.addTab(self.tree, "Table")
        self.addTab(self.json_view, "JSON")
        self.record: Any = None

    def set_record(self, record: Any) -> None:
        self.record = record
        self.tree.clear()
        self._add(self.tree.invisibleRootItem(), record)
        self.tree.expandToDepth(1)
        self.tree.resizeColumnToContents(0)
        self.json_view.setPlainText(json.dumps(record, indent=2, default=str))

    def set_text(self, text: str) -> None:
        """A plain message instead of a record (e.g. why a card cannot be read)."""
        self.record = None
        self.tree.clear()
        QTreeWidgetItem(self.tree, [text, ""])
        self.json_view.setPlainText(text)

    def rows(self) -> list[tuple[str, str]]:
        """Every (field, value) row, depth first, as shown (for tests and copying)."""
        out: list[tuple[str, str]] = []

        def walk(item: QTreeWidgetItem) -> None:
            for i in range(item.childCount()):
                child = item.child(i)
                out.append((child.text(0), child.text(1)))
                walk(child)

        walk(self.tree.invisibleRootItem())
        return out

    def _add(self, parent: QTreeWidgetItem, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                self._add_field(parent, _label(str(k)), v)
        elif isinstance(value, list):
            for i, v in enumerate(value[:LIST_ROWS]):
                self._add_field(parent, str(i + 1), v)
            if len(value) > LIST_ROWS:
                QTreeWidgetItem(parent, ["…", f"{len(value) - LIST_ROWS} more (see JSON)"])

    def _add_field(self, parent: QTreeWidgetItem, key: str, value: Any) -> None:
        nested = isinstance(value, dict) or (
            isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value))
        item = QTreeWidgetItem(parent, [key, "" if nested else format_value(value)])
        item.setToolTip(1, item.text(1))
        if nested:
            self._add(item, value)
