"""The Evaluation panel's state: the open study, who is rating, the trial on screen and
whether it may be rated, and the metric results; with change events."""

from __future__ import annotations

from typing import Any

from models.eval.study import Study, StudyError, Trial
from studio.state import Events


class NotPlayed(StudyError):
    """A rating given before the trial's samples played (the study counts it only after)."""


class EvaluationState:
    """A rating is stored only for the trial whose stimuli the view reported shown
    (:meth:`shown`); a trial that cannot be shown can only be skipped.

    Events: ``study`` (opened or closed), ``trial`` (the next trial, or None when done),
    ``metrics`` (a result was added).
    """

    def __init__(self) -> None:
        self.study: Study | None = None
        self.rater = ""
        self.trial: Trial | None = None
        self.rateable = False              # the current trial's stimuli are all on screen
        self.skipped: set[int] = set()     # positions passed over as unreadable
        self.played: set[int] = set()      # samples of the current trial heard to the end
        self.revisiting = False            # the trial on screen was rated before (back)
        self.metric_results: list[dict[str, Any]] = []
        self.events = Events("study", "trial", "metrics")

    def set_study(self, study: Study | None) -> None:
        if self.study is not None and self.study is not study:
            self.study.close()
        self.study = study
        self.end()
        # The metrics table shows the study's own saved results (in the order computed).
        saved = study.metrics() if study is not None else {}
        order = sorted(saved, key=lambda k: int(k.rpartition(":")[2])
                       if k.rpartition(":")[2].isdigit() else 0)
        self.metric_results = [saved[k] for k in order]
        self.events.emit("study")

    def start(self, name: str) -> str:
        """Begin (or resume) rating as ``name``; StudyError for a bad name or no study."""
        if self.study is None:
            from models.eval.study import StudyError

            raise StudyError("Open or create a study first")
        self.rater = self.study.start_rater(name)
        self.skipped = set()
        return self.rater

    def end(self) -> None:
        """Leave the test (every rating is already stored)."""
        self.rater, self.trial, self.rateable, self.skipped = "", None, False, set()

    def advance(self) -> Trial | None:
        """The rater's next unrated trial that was not skipped (None when done); it may
        not be rated until :meth:`shown`."""
        assert self.study is not None
        self.rateable, self.played, self.revisiting = False, set(), False
        self.trial = self.study.next_trial(self.rater, self.skipped)
        self.events.emit("trial", self.trial)
        return self.trial

    def back(self) -> Trial | None:
        """The rated trial before the one on screen, to rate again (None: there is none,
        and nothing changes). Its samples were heard when it was rated."""
        if self.study is None or not self.rater:
            return None
        before = self.trial.position if self.trial is not None else None
        trial = self.study.previous_rated(self.rater, before)
        if trial is None:
            return None
        self.trial, self.rateable, self.revisiting = trial, False, True
        self.played = set(self.must_hear())
        self.events.emit("trial", self.trial)
        return trial

    def can_go_back(self) -> bool:
        if self.study is None or not self.rater:
            return False
        before = self.trial.position if self.trial is not None else None
        return self.study.previous_rated(self.rater, before) is not None

    def must_hear(self) -> tuple[int, ...]:
        """The samples of the trial on screen that must play before a rating counts (sound
        studies made with the rule; MUSHRA: every condition, the reference need not)."""
        if self.study is None or self.trial is None or self.study.media != "audio" or \
                not self.study.must_play:
            return ()
        return tuple(range(len(self.trial.paths)))

    def unplayed(self) -> list[int]:
        return [i for i in self.must_hear() if i not in self.played]

    def mark_played(self, index: int, trial: Trial | None) -> None:
        """Sample ``index`` of ``trial`` played to its end (ignored for another trial)."""
        if trial is not None and trial is self.trial:
            self.played.add(index)

    def shown(self) -> None:
        """The view has every stimulus of the current trial on screen."""
        self.rateable = self.trial is not None

    def rate(self, answer: Any) -> bool:
        """Store ``answer`` for the trial on screen at once; False when there is none that
        may be rated (StudyError for an answer of the wrong form)."""
        if self.study is None or self.trial is None or not self.rateable:
            return False
        if self.unplayed():
            n = len(self.unplayed())
            raise NotPlayed("Play the sample to the end first: this study counts a rating "
                            "only after it played" if len(self.must_hear()) == 1 else
                            f"Play every sample to the end first ({n} not yet): this study "
                            "counts a rating only after they played")
        self.study.rate(self.trial, answer)
        return True

    def skip(self) -> bool:
        """Pass over a trial that could not be shown (it stays unrated)."""
        if self.trial is None or self.rateable:
            return False
        self.skipped.add(self.trial.position)
        return True

    def add_metric(self, result: dict[str, Any]) -> None:
        self.metric_results.append(result)
        if self.study is not None:
            self.study.save_metric(f"{result['metric']}:{len(self.metric_results)}", result)
        self.events.emit("metrics")

    def close(self) -> None:
        if self.study is not None:
            self.study.close()
            self.study = None
