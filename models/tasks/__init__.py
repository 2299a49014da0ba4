"""Qt-free jobs that the panels and the command line both call (one place for each)."""
