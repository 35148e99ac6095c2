"""Benchmarks of kbroker against a reference broker (Tansu), run on demand with `python -m bench`."""
