"""QApplication, main window, panel registry, menus, settings, status bar and shutdown."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QGuiApplication,
    QKeySequence,
    QUndoGroup,
)
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from models import __version__
from models import device as devices
from models.files import fingerprint
from models.protocol import Capability
from models.registry import Registry, default_registry
from studio import autosave, dialogs, gcpolicy
from studio.dialogs import make_settings  # noqa: F401  (the studio's settings)
from studio.jobs import JobRunner
from studio.panels import registered_panels
from studio.panels.base import Panel, StudioContext
from studio.panels.models import CHECKPOINT_FILTER
from studio.session import SUFFIX, SessionError, load_session, save_session

APP_NAME = "Latent Studio"
CHECKPOINTS_KEY = "_checkpoints"   # in a session: the user checkpoints it used
AUTOSAVE_KEY = "_autosave"         # in an autosave: when, and the session it belongs to


def _capability(record: dict) -> Capability:
    try:
        return Capability[str(record.get("capability") or "NONE")]
    except KeyError:
        return Capability.NONE


def _renamed(value, renames: dict[str, str]):
    """``value`` with every string naming a renamed model (or a sized view of one:
    "name @ 512x512") naming it as it is now called."""
    if not renames:
        return value
    if isinstance(value, dict):
        return {k: _renamed(v, renames) for k, v in value.items()}
    if isinstance(value, list):
        return [_renamed(v, renames) for v in value]
    if isinstance(value, str):
        if value in renames:
            return renames[value]
        base, at, size = value.partition(" @ ")
        if at and base in renames:
            return f"{renames[base]} @ {size}"
    return value


def offscreen_platform(width: int = 1920, height: int = 1200) -> str:
    """A QT_QPA_PLATFORM value for an offscreen screen of this size (the plugin's default
    800x600 screen clamps restored window geometry)."""
    import json
    import tempfile

    cfg = Path(tempfile.gettempdir()) / f"latent-studio-offscreen-{width}x{height}.json"
    if not cfg.is_file():
        screen = {"name": "offscreen", "x": 0, "y": 0, "width": width, "height": height,
                  "logicalDpi": 96, "logicalBaseDpi": 96, "dpr": 1}
        cfg.write_text(json.dumps({"screens": [screen]}))
    return f"offscreen:configfile={cfg}"


def ensure_app(argv: list[str] | None = None) -> QApplication:
    app = QApplication.instance()
    if app is None:
        app = QApplication(argv if argv is not None else sys.argv[:1])
        app.setApplicationName(APP_NAME)
        app.setOrganizationName("LatentStudio")
        app.setApplicationVersion(__version__)
    return app


MESSAGE_MS = 8000   # how long a status message stays
ETA_AFTER_S = 1.5   # a job's time left is estimated once it has run this long
SAY_END_AFTER_S = 2.0   # a job that ran this long says how it ended
IDLE_MODEL_S = 600  # a model unused this long is freed (it loads again when next used)


def _clock(seconds: float) -> str:
    """0:07, 2:31, 1:02:03."""
    s = int(round(seconds))
    h, m = divmod(s, 3600)
    return f"{h}:{m // 60:02d}:{m % 60:02d}" if h else f"{m // 60}:{m % 60:02d}"


class StatusBar(QWidget):
    """Compute device, current job with progress and Cancel, the last message, and the last
    error with Details (cleared when the next action succeeds).

    An error belongs to the panel it came from (``owner``): it shows while that panel is
    the one in view (:meth:`show_owner`), comes back when the user returns to it, and is
    cleared by that panel's next success, not by another panel's."""

    def __init__(self, jobs: JobRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.jobs = jobs
        self._active: dict[str, str] = {}  # key -> label, in start order
        self._labels: dict[str, str] = {}  # key -> label of its last job
        self._started: dict[str, float] = {}    # key -> when its job started
        self._fraction: dict[str, float] = {}   # key -> progress reported
        self._ended = ""                   # how the last long job ended, shown when idle
        self._shown_at = 0.0
        self._text_timer = QTimer(self, singleShot=True, interval=250)
        self._text_timer.timeout.connect(self._refresh)
        self._details = ""
        self._errors: dict[str, tuple[str, str]] = {}    # panel -> its last error
        self._owner = ""                                 # the panel in view
        # A job's panel, from its key (set by the window): "latent-scrub" -> "latent".
        self.owner_of: Callable[[str], str] = lambda _key: ""
        lay = QHBoxLayout(self)
        lay.setContentsMargins(6, 0, 6, 0)
        self.device_label = QLabel()
        self.job_label = QLabel()
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setFixedWidth(160)
        self.progress.setTextVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the current job (Esc)")
        self.message_label = QLabel()
        self.message_label.setObjectName("status-message")
        self._message_timer = QTimer(self, singleShot=True, interval=MESSAGE_MS)
        self._message_timer.timeout.connect(self.message_label.clear)
        self.error_label = QLabel()
        self.error_label.setStyleSheet("color: #b00020;")
        # A long message is cut (its tooltip and Details hold all of it); it must never
        # widen the window, whatever the fonts.
        for label in (self.message_label, self.error_label, self.job_label):
            label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.details_button = QPushButton("Details")
        lay.addWidget(self.device_label)
        # The job's text shares the bar with the message (its size policy ignores its text,
        # so without a share of its own it got no width at all and was never seen).
        lay.addWidget(self.job_label, 1)
        for w in (self.progress, self.cancel_button):
            lay.addWidget(w)
        lay.addWidget(self.message_label, 1)
        lay.addWidget(self.error_label, 1)
        lay.addWidget(self.details_button)
        self.cancel_button.clicked.connect(self.cancel_current)
        self.details_button.clicked.connect(self.show_details)
        jobs.job_started.connect(self._on_jobs_started)
        jobs.job_progress.connect(self._on_jobs_progress)
        jobs.job_finished.connect(self._on_jobs_finished)
        jobs.job_cancelled.connect(self._on_jobs_cancelled)
        jobs.job_failed.connect(self._on_jobs_failed)
        self.set_device(devices.current_device())
        self._refresh()
        self.clear_error()

    def set_device(self, name: str) -> None:
        self.device_label.setText(f"Device: {name.upper()}")

    @property
    def current_key(self) -> str | None:
        return next(reversed(self._active), None) if self._active else None

    def show_message(self, text: str, owner: str = "") -> None:
        """A note that something worked ("Exported …"); it also clears the last error (of
        its panel, ``owner``)."""
        self._errors.pop(owner, None)
        if not owner or owner == self._owner or self._details_owner == owner:
            self.clear_error()
        self.message_label.setText(text)
        self.message_label.setToolTip(text)
        self._message_timer.start()

    _details_owner = ""

    def show_error(self, message: str, details: str = "", owner: str = "") -> None:
        """Show an error (kept for its panel ``owner``, shown when that panel is in view)."""
        if owner:
            self._errors[owner] = (message, details)
            if owner != self._owner:
                return
        self._details_owner = owner
        self.message_label.clear()
        self.error_label.setText(message)
        self.error_label.setToolTip(message)
        self._details = details or message
        self.error_label.setVisible(True)
        self.details_button.setVisible(True)

    def show_owner(self, owner: str) -> None:
        """The panel in view changed: show its own last error, or none."""
        self._owner = owner
        kept = self._errors.get(owner)
        if kept is not None:
            self.show_error(kept[0], kept[1], owner)
        elif self._details_owner:                       # another panel's error goes
            self.clear_error()

    def clear_error(self) -> None:
        # Hidden when empty, so a message has the whole bar to be read in.
        self._details_owner = ""
        self.error_label.setText("")
        self.error_label.setVisible(False)
        self._details = ""
        self.details_button.setVisible(False)

    def show_details(self) -> None:
        box = QMessageBox(QMessageBox.Icon.Warning, APP_NAME, self.error_label.text(),
                          QMessageBox.StandardButton.Close, self)
        box.setDetailedText(self._details)
        box.open()

    def _refresh(self) -> None:
        key = self.current_key
        busy = key is not None
        text = self._active[key] if busy else (self._ended or "Ready")
        if busy and key in self._fraction:
            text += f" — {self._progress_text(key)}"
        self.job_label.setText(text)
        self.job_label.setToolTip(text)
        self._shown_at = time.monotonic()
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)

    def _progress_text(self, key: str) -> str:
        """"42%, about 1:23 left" (the estimate once the job has run a moment)."""
        fraction = self._fraction[key]
        elapsed = time.monotonic() - self._started.get(key, time.monotonic())
        text = f"{fraction:.0%}"
        if elapsed >= ETA_AFTER_S and 0.01 <= fraction < 1.0:
            text += f", about {_clock(elapsed * (1.0 - fraction) / fraction)} left"
        return text

    def _say_end(self, key: str, how: str) -> None:
        """A job that ran a while says how it ended where it ran ("…: done in 0:42")."""
        label = self._active.get(key) or self._labels.get(key, "")
        started = self._started.pop(key, None)
        self._fraction.pop(key, None)
        if started is None or not label:
            return
        took = time.monotonic() - started
        if took >= SAY_END_AFTER_S:
            self._ended = f"{label}: {how} {_clock(took)}"

    def cancel_current(self) -> None:
        """Cancel the job shown in the status bar."""
        key = self.current_key
        if key is not None:
            self.jobs.cancel(key)
            self._say_end(key, "cancelled after")
            self._active.pop(key, None)
            self._refresh()

    def _on_jobs_started(self, key: str, label: str) -> None:
        self._active.pop(key, None)
        self._active[key] = label
        self._labels[key] = label
        self._started[key] = time.monotonic()
        self._fraction.pop(key, None)
        self._ended = ""
        self.progress.setValue(0)
        self._refresh()

    def _on_jobs_progress(self, key: str, fraction: float) -> None:
        self._fraction[key] = fraction
        if key == self.current_key:
            self.progress.setValue(int(fraction * 1000))
            # The text at most 4 times a second; the last report shows too.
            now = time.monotonic()
            if now - self._shown_at >= 0.25:
                self._text_timer.stop()
                self._refresh()
            elif not self._text_timer.isActive():
                self._text_timer.start()

    def _on_jobs_finished(self, key: str) -> None:
        self._say_end(key, "done in")
        self._on_jobs_ended(key)

    def _on_jobs_cancelled(self, key: str) -> None:
        self._say_end(key, "cancelled after")
        self._on_jobs_ended(key)

    def _on_jobs_ended(self, key: str) -> None:
        self._active.pop(key, None)
        self._refresh()

    def _on_jobs_failed(self, key: str, message: str, details: str) -> None:
        self._say_end(key, "failed after")
        self._on_jobs_ended(key)
        self.show_error(message, details, self.owner_of(key))


class MainWindow(QMainWindow):
    """The studio window: one tab per registered panel, shared menus and status bar."""

    session_opened = Signal()      # a session's panels were restored

    def __init__(self, registry: Registry | None = None, jobs: JobRunner | None = None,
                 settings: QSettings | None = None) -> None:
        super().__init__()
        self.setWindowTitle(APP_NAME)
        self.settings = settings or make_settings()
        devices.set_device(str(self.settings.value("device", devices.best_device())))
        self.jobs = jobs or JobRunner(self)
        self.registry = registry or default_registry()
        self.session_path: Path | None = None
        self.ctx = StudioContext(self.jobs, self.registry, self.settings)
        self.undo_group = QUndoGroup(self)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.setCentralWidget(self.tabs)
        self.status = StatusBar(self.jobs)
        self.statusBar().addPermanentWidget(self.status, 1)
        self.panels: dict[str, Panel] = {}
        for cls in registered_panels():
            panel = cls(self.ctx)
            self.panels[cls.name] = panel
            self.tabs.addTab(panel, cls.title)
            self.undo_group.addStack(panel.undo_stack)
            panel.error.connect(
                lambda m, d, n=cls.name: self.status.show_error(m, d, n))
            panel.message.connect(lambda text, n=cls.name: self.status.show_message(text, n))
            panel.models_changed.connect(self._on_panel_models_changed)
            panel.send_to_evaluation.connect(self._on_panel_send_to_evaluation)
            panel.send_latent.connect(self._on_panel_send_latent)
            panel.send_picture.connect(self._on_panel_send_picture)
            panel.keep_in_library.connect(self._on_panel_keep_in_library)
            panel.request_clip.connect(self._on_panel_request_clip)
            panel.result_made.connect(self._on_result_made)
            panel.undo_stack.cleanChanged.connect(self._update_title)
            panel.undo_stack.indexChanged.connect(self._on_work_changed)
        self._build_history()
        self.tabs.currentChanged.connect(self._on_tabs_changed)
        self.status.owner_of = lambda key: next(
            (n for n in self.panels if key == n or key.startswith(n + "-")), "")
        self._build_menus()
        self._on_tabs_changed(self.tabs.currentIndex())
        self._restore_window()
        self.setAcceptDrops(True)
        self._release_timer = QTimer(self, interval=60_000)
        self._release_timer.timeout.connect(lambda: self.registry.release(idle_s=IDLE_MODEL_S))
        self._release_timer.start()
        for problem in self.registry.problems:
            self.status.show_error(problem)
        # Autosave (studio/autosave.py): every 30 s while there is unsaved work, and soon
        # after each result of a long job; in the io lane.
        self.autosave_path = autosave.own_path()
        self._changes = self._autosaved = 0
        self._autosave_timer = QTimer(self, interval=autosave.INTERVAL_MS)
        self._autosave_timer.timeout.connect(self.autosave)
        self._autosave_timer.start()
        self._autosave_soon = QTimer(self, singleShot=True, interval=autosave.AFTER_RESULT_MS)
        self._autosave_soon.timeout.connect(self.autosave)
        self.jobs.job_finished.connect(self._on_job_finished)

    # -- menus ----------------------------------------------------------------------------

    def _action(self, menu, text: str, slot, shortcut=None, tip: str = "") -> QAction:
        act = QAction(text, self)
        if shortcut is not None:
            act.setShortcut(QKeySequence(shortcut))
        if tip:
            act.setStatusTip(tip)
        act.triggered.connect(slot)
        menu.addAction(act)
        return act

    def _build_menus(self) -> None:
        bar = self.menuBar()
        m = bar.addMenu("&File")
        self._action(m, "&Open…", self.open_file_dialog, QKeySequence.StandardKey.Open,
                     "Open a file in the current panel")
        self.recent_menu = m.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._rebuild_recent)
        dialogs.migrate(self.settings)
        self._action(m, "Open &Checkpoint…", self.open_checkpoint_dialog, "Ctrl+Shift+O",
                     "Load your own model weights (.safetensors + .json card, or .pt)")
        m.addSeparator()
        self._action(m, "Open &Session…", self.open_session_dialog, "Ctrl+Alt+O")
        self._action(m, "&Save Session", self.save_session, QKeySequence.StandardKey.Save)
        self._action(m, "Save Session &As…", self.save_session_as,
                     "Ctrl+Shift+S")
        m.addSeparator()
        self._action(m, "&Export…", lambda: self.current_panel().export(), "Ctrl+E")
        m.addSeparator()
        self._action(m, "&Quit", self.close, "Ctrl+Q")
        self._rebuild_recent()

        m = bar.addMenu("&Edit")
        undo = self.undo_group.createUndoAction(self, "&Undo")
        undo.setShortcut(QKeySequence.StandardKey.Undo)
        redo = self.undo_group.createRedoAction(self, "&Redo")
        redo.setShortcut(QKeySequence.StandardKey.Redo)
        m.addAction(undo)
        m.addAction(redo)
        self.undo_action, self.redo_action = undo, redo
        m.addSeparator()
        self._action(m, "Cancel &Job", self.status.cancel_current, "Esc")
        self._action(m, "S&weep…", lambda: self.open_sweep(), "Ctrl+Shift+W",
                     "Run the current panel's last result again with one to three settings "
                     "swept: a labelled grid, or a list of sounds")

        m = bar.addMenu("&View")
        for i, panel in enumerate(self.panels.values()):
            self._action(m, panel.title, lambda _=False, n=panel.name: self.show_panel(n),
                         f"Ctrl+{i + 1}" if i < 9 else None)
        if self.history_dock is not None:
            m.addSeparator()
            act = self.history_dock.toggleViewAction()
            act.setText("&History")
            act.setShortcut(QKeySequence("Ctrl+H"))
            act.setStatusTip("Every result made here, this session and earlier ones")
            m.addAction(act)

        m = bar.addMenu("&Compute")
        group = QActionGroup(self)
        self.device_actions: dict[str, QAction] = {}
        available = devices.available_devices()
        for name, label in (("cuda", "CUDA GPU"), ("mps", "Apple MPS"), ("cpu", "CPU")):
            act = QAction(label, self, checkable=True)
            act.setEnabled(name in available)
            act.setChecked(name == devices.current_device())
            act.triggered.connect(lambda _=False, n=name: self.set_device(n))
            group.addAction(act)
            m.addAction(act)
            self.device_actions[name] = act

        m = bar.addMenu("&Help")
        self._action(m, "&Keyboard Shortcuts", self.show_shortcuts, "F1")
        self._action(m, "&About Latent Studio", self.show_about)

    def shortcut_rows(self) -> list[tuple[str, str, str]]:
        """(where, action, keys) of every menu shortcut and every panel's own keys."""
        menu_rows = sorted({("Everywhere", a.text().replace("&", "").rstrip("…"),
                             a.shortcut().toString())
                            for menu in self.menuBar().findChildren(QMenu)
                            for a in menu.actions() if not a.shortcut().isEmpty()},
                           key=lambda r: r[1])
        panel_rows = [(panel.title, what, keys) for panel in self.panels.values()
                      for keys, what in panel.shortcuts]
        return menu_rows + panel_rows

    def show_shortcuts(self) -> QDialog:
        dlg = QDialog(self)
        dlg.setWindowTitle("Keyboard Shortcuts")
        rows = self.shortcut_rows()
        table = QTableWidget(len(rows), 3, dlg)
        table.setObjectName("shortcuts")
        table.setHorizontalHeaderLabels(["Where", "Action", "Shortcut"])
        table.verticalHeader().setVisible(False)
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                table.setItem(r, c, QTableWidgetItem(text))
        table.resizeColumnsToContents()
        QVBoxLayout(dlg).addWidget(table)
        dlg.resize(560, 560)
        dlg.open()
        return dlg

    def show_about(self) -> None:
        n = len(self.registry.infos())
        QMessageBox.about(self, f"About {APP_NAME}",
                          f"<b>{APP_NAME}</b> {__version__}<br>Explore and judge generative "
                          f"models by hand.<br>{n} models registered; compute device: "
                          f"{devices.current_device().upper()}.")

    # -- panels ---------------------------------------------------------------------------

    def current_panel(self) -> Panel:
        return self.tabs.currentWidget()

    def show_panel(self, name: str) -> Panel:
        if name not in self.panels:
            known = ", ".join(self.panels)
            raise KeyError(f"no panel named '{name}' (panels: {known})")
        self.tabs.setCurrentWidget(self.panels[name])
        return self.panels[name]

    def _on_tabs_changed(self, index: int) -> None:
        panel = self.tabs.widget(index)
        if panel is not None:
            self.undo_group.setActiveStack(panel.undo_stack)
            self.status.show_owner(panel.name)

    def set_device(self, name: str) -> None:
        chosen = devices.set_device(name)
        self.registry.release(keep_device=chosen)      # models on the old device go
        self.settings.setValue("device", chosen)
        self.device_actions[chosen].setChecked(True)
        self.status.set_device(chosen)
        for panel in self.panels.values():
            panel.backend_changed()

    # -- files ----------------------------------------------------------------------------

    def open_file_dialog(self) -> None:
        panel = self.current_panel()
        if not panel.open_filter:
            panel.open_file("")
            return
        exts = [e.strip("*)( ").lower() for e in panel.open_filter.split() if "*." in e]
        kind = next((dialogs.kind_of(f"x{e}") for e in exts if dialogs.kind_of(f"x{e}")),
                    "picture")
        path = dialogs.open_file(self, kind, f"Open — {panel.title}", panel.open_filter)
        if path:
            self.open_file(path)

    def open_file(self, path: str) -> None:
        """A session, an output that carries its recipe (its panel opens with every control
        as it was), another Stable Diffusion tool's picture (its settings fill the
        Inpainting panel's controls), or any other file in the current panel."""
        if path.endswith(SUFFIX):
            self.open_session(path)
            return
        from models.recipe import FORMAT, RecipeError, embedded_text, read_recipe

        try:
            if path.lower().endswith(".json"):          # a RECIPE.json
                with open(path, encoding="utf-8", errors="replace") as f:
                    carries = FORMAT in f.read(4096)
            else:
                carries = embedded_text(Path(path), quick=True) is not None
        except (RecipeError, OSError):
            carries = False
        if carries:
            def read(*, ctx):
                import warnings

                with warnings.catch_warnings(record=True) as said:
                    warnings.simplefilter("always")
                    recipe = read_recipe(path)      # a newer recipe: read as far as it goes
                return recipe, recipe.file_problems(), [str(w.message) for w in said]

            self.jobs.submit("window-recipe", read, lane="io",
                             label=f"Reading the recipe of {Path(path).name}",
                             on_result=lambda r: self._checked_recipe(r[0], r[1], r[2]),
                             on_error=self.status.show_error)
            self._add_recent(path)
            return
        if (text := other_tools_parameters(path)) and "inpaint" in self.panels:
            panel = self.show_panel("inpaint")
            panel.apply_parameters(text)
            panel.open_file(path)
            self._add_recent(path)
            return
        self.current_panel().open_file(path)
        self._add_recent(path)

    def open_recipe(self, recipe) -> None:
        """Restore a recipe (a History entry, a sweep's cell) once its files are checked in
        the io lane (a big model's fingerprint takes a moment the first time)."""
        self.jobs.submit("window-recipe", lambda *, ctx: recipe.file_problems(), lane="io",
                         label="Checking the recipe's files",
                         on_result=lambda problems: self._checked_recipe(recipe, problems),
                         on_error=self.status.show_error)

    def _checked_recipe(self, recipe, problems, said: list[str] = ()) -> None:
        """A recipe whose model or inputs are missing or changed: each missing one is asked
        for (Locate… / Cancel); a changed one is said, and the recipe restored with it
        (``said``: warnings of reading it, a newer version's, said the same way)."""
        changed = list(said)
        for ref, why in problems:
            if Path(ref.path).exists():
                changed.append(why)
                continue
            found = self.ask_for_file(ref, why)
            if not found:
                self.status.show_error(f"Not restored: {why}")
                return
            recipe = recipe.relocated(ref, found)
        self.restore_recipe(recipe, "; ".join(changed))

    def ask_for_file(self, ref, why: str) -> str:
        """A recipe's file is missing: ask where it is ("" to give up)."""
        if not self._wants_to_locate(f"The result was made with this {ref.role}:\n{ref.path}\n"
                                     f"{why.rpartition(': ')[2].capitalize()}.", "Cancel"):
            return ""
        if ref.role == "model" and not Path(ref.path).suffix:
            return QFileDialog.getExistingDirectory(self, f"Locate {Path(ref.path).name}",
                                                    str(Path(ref.path).parent))
        path, _ = QFileDialog.getOpenFileName(self, f"Locate {Path(ref.path).name}",
                                              str(Path(ref.path).parent))
        return path

    def restore_recipe(self, recipe, note: str = "") -> None:
        """Open the panel that made a result with its recipe's settings (a panel that cannot
        restore them yet opens the recipe's first input instead, and says so); ``note``:
        what is not as it was (said once the panel is restored)."""
        name = RECIPE_PANELS.get(recipe.task, "")
        if recipe.task == "sweep":
            from models.recipe import Recipe

            name = RECIPE_PANELS.get(Recipe.from_json(recipe.params["base"]).task, "")
        if name not in self.panels:
            self.status.show_error(f"No panel here makes a {recipe.task}")
            return
        panel = self.show_panel(name)
        if recipe.task != "sweep" and hasattr(panel, "restore_recipe"):
            panel.restore_recipe(recipe, note)
            return
        first = next((f.path for f in recipe.inputs if Path(f.path).is_file()), "")
        if first:
            panel.open_file(first)
        self.status.show_message(
            f"{panel.title} opened{' with ' + Path(first).name if first else ''}; it does "
            f"not restore a {recipe.task}'s settings: 'latent-studio replay' runs it again",
            name)

    # -- history ------------------------------------------------------------------------------

    def _build_history(self) -> None:
        from models.history import History, default_path
        from studio.history_dock import HistoryDock

        self.history_dock: HistoryDock | None = None
        self._last_recipe: dict[str, object] = {}
        try:
            history = History(default_path())
        except Exception as exc:  # noqa: BLE001 (a broken history must not stop the studio)
            self.status.show_error(f"The history cannot be opened ({exc}); results are not "
                                   "kept in it this time")
            return
        dock = HistoryDock(history, self)
        dock.open_recipe.connect(self.open_recipe)
        dock.sweep_recipe.connect(self.open_sweep)
        dock.send_recipe.connect(self.send_result)
        dock.reuse_seed.connect(self.reuse_seed)
        dock.message.connect(lambda t: self.status.show_message(t))
        dock.error.connect(lambda m, d: self.status.show_error(m, d))
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        dock.hide()
        self.history_dock = dock

    def send_result(self, recipe, target: str) -> None:
        """Make a result again from its recipe (the long lane) and send it to a panel: a
        picture to Inpainting, a Latent Explorer endpoint, a Style Mixer row or a folder
        for Evaluation; a sound to the Spectrogram, Speech attributes or Evaluation."""
        import tempfile

        from models.tasks import runner

        suffix = runner.WRITES.get(recipe.task, (".png",))[0]
        folder = Path(tempfile.mkdtemp(prefix="latent-studio-send-"))
        out = folder / f"{recipe.task}{suffix}"
        label = f"{recipe.task} of {recipe.model.get('name', '')}"

        def make(*, ctx):
            runner.run(self.registry, recipe, out, ctx=ctx)
            if suffix == ".png":
                from PIL import Image

                with Image.open(out) as img:
                    return np.asarray(img.convert("RGB")), 0
            from models.audio.io import read_audio

            clip = read_audio(out)
            return clip.audio, clip.rate

        def arrived(result) -> None:
            data, rate = result
            if target == "evaluation":
                self.show_panel("evaluation").receive_for_evaluation(str(folder), label)
            elif target == "inpaint":
                self.show_panel("inpaint").receive_picture(data, label)
            elif target == "latent":
                self.show_panel("latent").fill_image(data, label)
            elif target == "stylemix":
                self.show_panel("stylemix").add_picture("rows", data, label)
            elif target == "spectral":
                self.show_panel("spectral").load_audio(data, rate)
            elif target == "speech_attributes":
                self.show_panel("speech_attributes").load_audio(data, rate, label)

        import numpy as np

        self.jobs.submit("window-send", make, lane="long", label=f"Making {label} again",
                         on_result=arrived, on_error=self.status.show_error)

    def reuse_seed(self, recipe) -> None:
        """A result's seed into the panel that made it, the other settings left as they
        are."""
        seed = recipe.params.get("seed")
        name = RECIPE_PANELS.get(recipe.task, "")
        if not isinstance(seed, int) or name not in self.panels:
            self.status.show_error(f"a {recipe.task} has no seed to reuse")
            return
        panel = self.show_panel(name)
        key = {"stylemix": "noise_seed"}.get(name, "seed")
        push = getattr(panel, "push_param", None) or getattr(panel, "_push_param", None)
        if push is None or not hasattr(panel.doc, key):
            self.status.show_error(f"{panel.title} has no seed to set")
            return
        push(key, getattr(panel.doc, key), seed)
        if hasattr(panel.doc, "lock_seed"):
            push("lock_seed", panel.doc.lock_seed, True)
        self.status.show_message(f"Seed {seed} reused in {panel.title}", name)

    def open_sweep(self, recipe=None):
        """The Sweep dialog for ``recipe`` (default: the current panel's last result)."""
        from studio.sweep_dialog import SweepDialog

        recipe = recipe or self._last_recipe.get(self.current_panel().title)
        if recipe is None:
            self.status.show_error(f"Make a result in {self.current_panel().title} first "
                                   "(or pick one in the History): a sweep runs it again "
                                   "with settings changed")
            return None
        player = getattr(self.panels.get("spectral"), "player", None)
        dlg = SweepDialog(recipe, self.registry, self.jobs, self, player=player)
        dlg.open_recipe.connect(self.open_recipe)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.show()
        return dlg

    def _on_result_made(self, recipe, shown, panel_title: str) -> None:
        """Every result with a recipe goes into the history at once (committed: a kill
        right after loses nothing)."""
        self._last_recipe[panel_title] = recipe
        if self.history_dock is None:
            return
        import numpy as np

        from models.history import thumbnail

        shown = np.asarray(shown)
        sound = shown.ndim == 1
        try:
            thumb = thumbnail(audio=shown) if sound else thumbnail(rgb=shown)
            self.history_dock.add(panel_title, recipe, thumb, "sound" if sound else "picture")
        except Exception as exc:  # noqa: BLE001 (the result stands; only its entry is lost)
            self.status.show_error(f"The result was not kept in the history ({exc})")

    def open_checkpoint_dialog(self) -> None:
        path = dialogs.open_file(self, "checkpoint", "Open Checkpoint", CHECKPOINT_FILTER)
        if path:
            self.open_checkpoint(path)

    def open_checkpoint(self, path: str) -> None:
        self.current_panel().register_checkpoint(path)

    def _on_panel_send_to_evaluation(self, folder: str, label: str) -> None:
        if "evaluation" in self.panels:
            self.show_panel("evaluation").receive_for_evaluation(folder, label)

    def _on_panel_send_latent(self, model: str, latent: object, label: str) -> None:
        if "latent" in self.panels:
            self.show_panel("latent").receive_latent(model, latent, label)

    def _on_panel_keep_in_library(self, model: str, latent: object, name: str) -> None:
        # One library object (the Latent Explorer's) writes the file: two would overwrite
        # each other's entries.
        if "latent" in self.panels:
            self.panels["latent"].keep_latent(name, latent,
                                              "Attributes", model=model)

    def _on_panel_request_clip(self, name: str) -> None:
        spectral = self.panels.get("spectral")
        if spectral is None or not spectral.original.size:
            self.status.show_message("The Spectrogram editor has no clip: open or record one "
                                     "there first")
            return
        self.panels[name].receive_audio(spectral.original, spectral.rate,
                                        "from the Spectrogram editor")

    def _on_panel_send_picture(self, rgb: object, label: str) -> None:
        if "inpaint" in self.panels:
            self.show_panel("inpaint").receive_picture(rgb, label)

    def _on_panel_models_changed(self) -> None:
        for panel in self.panels.values():
            panel.backend_changed()

    def _add_recent(self, path: str) -> None:
        dialogs.remember(self.settings, path)
        self._rebuild_recent()

    def _recent(self) -> list[str]:
        """Every recent file, sessions first, then pictures, sounds, studies, checkpoints."""
        return [p for kind in dialogs.KINDS for p in dialogs.recent(self.settings, kind)]

    def _rebuild_recent(self) -> None:
        """File > Open Recent: a section per kind of file (rebuilt each time it opens, so
        what a panel's own Open… chose is there too)."""
        self.recent_menu.clear()
        for kind, (title, _) in dialogs.KINDS.items():
            paths = dialogs.recent(self.settings, kind)
            if not paths:
                continue
            self.recent_menu.addSection(title)
            for path in paths:
                act = self.recent_menu.addAction(Path(path).name)
                act.setToolTip(path)
                act.setStatusTip(path)
                act.triggered.connect(lambda _=False, p=path, k=kind: self.open_recent(p, k))
        if self.recent_menu.isEmpty():
            self.recent_menu.addAction("Nothing opened yet").setEnabled(False)

    def open_recent(self, path: str, kind: str) -> None:
        """Open a recent file where it belongs: a session in the window, a study in the
        Evaluation panel, a checkpoint in the current panel, a picture or a sound in the
        current panel when it takes one (else the Inpainting panel or the Spectrogram)."""
        if not Path(path).exists():
            items = [p for p in dialogs.recent(self.settings, kind) if p != path]
            self.settings.setValue(f"recent/{kind}", items)
            self._rebuild_recent()
            self.status.show_error(f"{path}: no longer there (taken off the recent list)")
            return
        if kind == "session":
            self.open_session(path)
            return
        if kind == "checkpoint":
            self.open_checkpoint(path)
            dialogs.remember(self.settings, path, kind)
            return
        home = {"study": "evaluation", "picture": "inpaint", "sound": "spectral"}.get(kind)
        panel = self.current_panel()
        if f"*{Path(path).suffix.lower()}" not in panel.open_filter.lower() and home in \
                self.panels:
            panel = self.show_panel(home)
        panel.open_file(path)
        self._add_recent(path)

    def dragEnterEvent(self, event) -> None:  # noqa: N802 (Qt override)
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 (Qt override)
        for url in event.mimeData().urls():
            if url.isLocalFile():
                self.open_file(url.toLocalFile())

    # -- sessions -------------------------------------------------------------------------

    def session_state(self) -> dict:
        """Every panel's state, and the user checkpoints registered (path, config and
        fingerprint: :meth:`open_session` opens them again before the panels restore)."""
        state = {name: panel.state() for name, panel in self.panels.items()}
        state[CHECKPOINTS_KEY] = self.registry.checkpoint_sources()
        return state

    def save_session(self) -> bool:
        if self.session_path is None:
            return self.save_session_as()
        return self.write_session(self.session_path)

    def save_session_as(self) -> bool:
        path = dialogs.save_file(self, "session", "Save Session", "session" + SUFFIX,
                                 f"Latent Studio sessions (*{SUFFIX})")
        if not path:
            return False
        if not path.endswith(SUFFIX):
            path += SUFFIX
        return self.write_session(Path(path))

    def write_session(self, path: Path) -> bool:
        try:
            save_session(path, self.session_state())
        except OSError as exc:
            from models.files import os_error_words

            self.status.show_error(f"The session was not saved: {os_error_words(exc, path)}")
            return False
        self.session_path = Path(path)
        for panel in self.panels.values():
            panel.mark_saved()
        self._drop_autosave()
        self._add_recent(str(path))
        self._update_title()
        self.status.show_message(f"Session saved to {path}")
        return True

    def open_session_dialog(self) -> None:
        path = dialogs.open_file(self, "session", "Open Session",
                                 f"Latent Studio sessions (*{SUFFIX})")
        if path:
            self.open_session(path)

    def confirm_discard(self, doing: str) -> bool:
        """Ask before ``doing`` replaces unsaved work; True to go on (saving first if asked)."""
        if not self.is_dirty() or os.environ.get("LATENT_STUDIO_NO_PROMPT"):
            return True
        answer = QMessageBox.question(
            self, APP_NAME, f"Save your session before {doing}?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Save)
        if answer == QMessageBox.StandardButton.Cancel:
            return False
        return answer != QMessageBox.StandardButton.Save or self.save_session()

    def open_session(self, path: str | Path, *, recovered: bool = False) -> bool:
        """Open a session: the user checkpoints it used are opened again first (by path,
        checked by fingerprint; one missing or changed is asked for: :meth:`ask_for_checkpoint`),
        then every panel restores. True when the file was read (the panels may restore a
        moment later, once the checkpoints are open). ``recovered``: an autosave being
        restored (the work stays unsaved, under its own session's name)."""
        if not recovered and not self.confirm_discard(f"opening {Path(path).name}"):
            return False
        try:
            state = load_session(path)
        except SessionError as exc:
            self.status.show_error(str(exc))
            return False
        records = [r for r in state.pop(CHECKPOINTS_KEY, []) if isinstance(r, dict)]
        meta = state.pop(AUTOSAVE_KEY, {})
        self._reopen_checkpoints(records, {}, [], lambda renames, missing: self._apply_session(
            Path(path), state, renames, missing, meta if recovered else None))
        return True

    def _reopen_checkpoints(self, records: list[dict], renames: dict[str, str],
                            missing: list[str], done: Callable[[dict, list], None]) -> None:
        """Register ``records`` (a session's checkpoints) one after another in the io lane,
        then call ``done(renames, missing)``: old name -> name now, and those left out."""
        if not records:
            done(renames, missing)
            return
        rec, rest = records[0], records[1:]
        go_on = lambda: self._reopen_checkpoints(rest, renames, missing, done)  # noqa: E731
        name, path = str(rec.get("name", "")), str(rec.get("path", ""))
        for src in self.registry.checkpoint_sources():
            if src["path"] == path and src["fingerprint"] == rec.get("fingerprint"):
                renames[name] = src["name"]            # already open in this window
                go_on()
                return

        def added(info) -> None:
            renames[name] = info.name
            self._on_panel_models_changed()
            go_on()

        def ask(why: str) -> None:
            chosen = self.ask_for_checkpoint(rec, why)
            if not chosen:
                missing.append(f"{name} ({path}: {why})")
                go_on()
                return
            self.jobs.submit("window-checkpoint", lambda *, ctx: self.registry.add_checkpoint(
                chosen, rec.get("config") or None, _capability(rec)), lane="io",
                label=f"Opening {Path(chosen).name}", on_result=added,
                on_error=lambda message, _details: ask(message))

        if not path or not Path(path).exists():
            ask("the file is missing")
            return

        def reopen(*, ctx) -> object:
            ctx.report(0.0)
            if fingerprint(path) != rec.get("fingerprint"):
                return None
            return self.registry.add_checkpoint(path, rec.get("config") or None,
                                                _capability(rec))

        self.jobs.submit("window-checkpoint", reopen, lane="io",
                         label=f"Opening {Path(path).name} (used by the session)",
                         on_result=lambda info: added(info) if info is not None else ask(
                             "the file has changed since the session was saved"),
                         on_error=lambda message, _details: ask(message))

    def _wants_to_locate(self, text: str, other: str) -> bool:
        """Ask whether to locate a missing file (Locate… / ``other``); never under tests."""
        if os.environ.get("LATENT_STUDIO_NO_PROMPT"):
            return False
        box = QMessageBox(QMessageBox.Icon.Warning, APP_NAME, text, parent=self)
        locate = box.addButton("Locate…", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(other, QMessageBox.ButtonRole.RejectRole)
        box.exec()
        return box.clickedButton() is locate

    def ask_for_checkpoint(self, record: dict, why: str) -> str:
        """A session's checkpoint cannot be opened as saved (``why``): ask for the file
        ("" to go on without it; the panels that used it fall back and say so)."""
        if not self._wants_to_locate(
                f"The session used the checkpoint '{record.get('name', '')}':\n"
                f"{record.get('path', '')}\n{why[:1].upper() + why[1:]}.",
                "Continue without it"):
            return ""
        path, _ = QFileDialog.getOpenFileName(
            self, f"Locate {Path(str(record.get('path', ''))).name}",
            str(Path(str(record.get("path", ""))).parent), CHECKPOINT_FILTER)
        return path

    def _apply_session(self, path: Path, state: dict, renames: dict[str, str],
                       missing: list[str], recovered: dict | None) -> None:
        state = _renamed(state, {k: v for k, v in renames.items() if k != v})
        for name, panel in self.panels.items():
            if name in state:
                panel.restore_state(state[name])
                panel.undo_stack.clear()
                if recovered is None:
                    panel.mark_saved()
                else:            # recovered work is not saved anywhere yet
                    panel.undo_stack.resetClean()
        if recovered is None:
            self.session_path = path
            self._add_recent(str(path))
        else:
            saved_as = str(recovered.get("session", ""))
            self.session_path = Path(saved_as) if saved_as else None
        self._update_title()
        self.status.show_message(f"Restored the work autosaved at {recovered.get('time', '')}"
                                 if recovered is not None else f"Opened session {path.name}")
        if missing:
            self.status.show_error("Not opened, so the panels that used it fell back: "
                                   + "; ".join(missing))
        self.session_opened.emit()

    def is_dirty(self) -> bool:
        return any(p.is_dirty() for p in self.panels.values())

    # -- autosave and crash recovery ------------------------------------------------------

    def _on_work_changed(self, *_: object) -> None:
        self._changes += 1

    def _on_job_finished(self, key: str) -> None:
        if self.jobs.lane_of.get(key) == "long":     # a result (not a scrub frame)
            self._changes += 1
            self._autosave_soon.start()

    def autosave(self) -> bool:
        """Write the session to this studio's autosave file in the io lane, when something
        changed since the last autosave and is not saved; True when one was started."""
        if self._changes == self._autosaved or not self.is_dirty():
            return False
        self._autosaved = self._changes
        state = autosave.snapshot(self.session_state())
        state[AUTOSAVE_KEY] = {"time": time.strftime("%Y-%m-%d %H:%M:%S"),
                               "session": str(self.session_path or "")}
        path = self.autosave_path

        def write(*, ctx) -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            save_session(path, state)

        def failed(message: str, details: str) -> None:
            self._autosaved = -1                      # try again at the next tick
            self.status.show_error(f"Autosave failed: {message}", details)

        self.jobs.submit("window-autosave", write, lane="io", label="Autosaving the session",
                         on_error=failed)
        return True

    def _drop_autosave(self) -> None:
        self._autosave_soon.stop()
        self.autosave_path.unlink(missing_ok=True)

    def offer_recovery(self) -> bool:
        """At start: the work a studio that did not quit cleanly left in its autosave is
        offered back (:meth:`ask_restore`); True when it was restored."""
        found = autosave.leftovers()
        if not found:
            return False
        newest, older = found[0], found[1:]
        for path in older:
            path.unlink(missing_ok=True)
        try:
            when = load_session(newest).get(AUTOSAVE_KEY, {}).get("time", "")
        except SessionError as exc:
            self.status.show_error(f"An autosave could not be read: {exc}")
            newest.unlink(missing_ok=True)
            return False
        if not self.ask_restore(when):
            newest.unlink(missing_ok=True)
            return False
        # It becomes this studio's own autosave: kept until the work is saved or quit.
        self.autosave_path.parent.mkdir(parents=True, exist_ok=True)
        newest.replace(self.autosave_path)
        return self.open_session(self.autosave_path, recovered=True)

    def ask_restore(self, when: str) -> bool:
        """Whether to restore the work autosaved at ``when`` by a studio that did not quit."""
        if os.environ.get("LATENT_STUDIO_NO_PROMPT"):
            return False
        answer = QMessageBox.question(
            self, APP_NAME, f"Latent Studio did not quit properly last time. Restore the work "
            f"autosaved at {when}?", QMessageBox.StandardButton.Yes
            | QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes)
        return answer == QMessageBox.StandardButton.Yes

    def _update_title(self, *_: object) -> None:
        name = self.session_path.name if self.session_path else "untitled"
        self.setWindowTitle(f"{name}{' *' if self.is_dirty() else ''} — {APP_NAME}")

    # -- lifetime -------------------------------------------------------------------------

    def _restore_window(self) -> None:
        geometry = self.settings.value("window/geometry")
        screen = self.screen() or QGuiApplication.primaryScreen()
        avail = screen.availableGeometry() if screen is not None else None
        if geometry is not None:
            self.restoreGeometry(geometry)
            if avail is not None and (self.width() > avail.width()
                                      or self.height() > avail.height()):
                self.resize(min(self.width(), avail.width()),
                            min(self.height(), avail.height()))   # a smaller screen now
        elif avail is not None:
            # The first start: most of the screen (messages and controls have room), centred.
            w = min(avail.width(), max(1000, round(avail.width() * 0.85)))
            h = min(avail.height(), max(700, round(avail.height() * 0.85)))
            self.resize(w, h)
            self.move(avail.x() + (avail.width() - w) // 2, avail.y() + (avail.height() - h) // 2)
        else:
            self.resize(1280, 820)
        index = self.settings.value("window/panel")
        if index is not None and 0 <= int(index) < self.tabs.count():
            self.tabs.setCurrentIndex(int(index))

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt override)
        if not self.confirm_discard("quitting"):
            event.ignore()
            return
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/panel", self.tabs.currentIndex())
        self.settings.sync()
        self.shutdown()
        self._drop_autosave()                          # a clean quit: nothing to recover
        event.accept()

    def shutdown(self) -> None:
        if self.history_dock is not None:
            self.history_dock.history.close()
        self._release_timer.stop()
        self._autosave_timer.stop()
        self._autosave_soon.stop()
        for panel in self.panels.values():
            panel.shutdown()
        self.jobs.shutdown()


# The panel that makes each task's results (where a dropped output opens).
RECIPE_PANELS = {"inpaint": "inpaint", "generate": "inpaint", "stylemix": "stylemix",
                 "stylemix-grid": "stylemix", "decode": "attributes", "vocode-mel": "spectral",
                 "interpolate": "latent", "reconstruct": "latent", "directions": "attributes",
                 "vocode": "spectral", "spectrogram": "spectral",
                 "attributes-edit": "speech_attributes"}


def other_tools_parameters(path: str) -> str:
    """The ``parameters`` text of a PNG made by another Stable Diffusion tool ("" if none)."""
    if not path.lower().endswith(".png"):
        return ""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:           # the chunks before the pixels: not decoded
            return str(img.info.get("parameters", "") or "")
    except (OSError, UnidentifiedImageError):
        return ""


def run_gui(argv: list[str] | None = None) -> int:
    """Open the studio window and run until it closes."""
    app = ensure_app(argv)
    win = MainWindow()
    win.show()
    QTimer.singleShot(0, win.raise_)
    gcpolicy.install(win.registry)
    QTimer.singleShot(0, win.offer_recovery)
    return app.exec()

