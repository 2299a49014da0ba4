"""The Evaluation panel's state: the open study, who is rating, the trial on screen and
whether it may be rated, and the metric results; with change events."""

from __future__ import annotations

from typing import Any

from models.eval.study import Study, Trial
from studio.state import Events


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
        self.metric_results: list[dict[str, Any]] = []
        self.events = Events("study", "trial", "metrics")

    def set_study(self, study: Study | None) -> None:
        if self.study is not None and self.study is not study:
            self.study.close()
        self.study = study
        self.end()
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
        self.rateable = False
        self.trial = self.study.next_trial(self.rater, self.skipped)
        self.events.emit("trial", self.trial)
        return self.trial

    def shown(self) -> None:
        """The view has every stimulus of the current trial on screen."""
        self.rateable = self.trial is not None

    def rate(self, answer: Any) -> bool:
        """Store ``answer`` for the trial on screen at once; False when there is none that
        may be rated (StudyError for an answer of the wrong form)."""
        if self.study is None or self.trial is None or not self.rateable:
            return False
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
