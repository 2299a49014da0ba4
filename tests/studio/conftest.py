import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"

import pytest  # noqa: E402

from studio.jobs import JobRunner  # noqa: E402


@pytest.fixture
def runner(qapp):
    r = JobRunner()
    yield r
    r.shutdown()
