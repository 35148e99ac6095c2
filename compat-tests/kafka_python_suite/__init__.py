"""kafka-python's own integration suite, run against our broker (see run.py)."""
