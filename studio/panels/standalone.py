"""Run one panel alone in a window: ``python -m studio.panels.<name>``."""

from __future__ import annotations

from studio.panels.base import Panel


def run_standalone(cls: type[Panel]) -> int:
    from models.registry import default_registry
    from studio.app import ensure_app, make_settings
    from studio.jobs import JobRunner
    from studio.panels.base import StudioContext

    app = ensure_app()
    jobs = JobRunner()
    panel = cls(StudioContext(jobs, default_registry(), make_settings()))
    panel.setWindowTitle(cls.title)
    panel.error.connect(lambda msg, _details: panel.setToolTip(msg))
    panel.resize(1100, 760)
    panel.show()
    code = app.exec()
    panel.shutdown()
    jobs.shutdown()
    return code
