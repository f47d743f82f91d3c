"""Benchmarks of openmodule-host against raw pyzmq and openmodule 18.5.0 (run with ``python -m bench``).

Only the standard library is imported here and in :mod:`bench.protocol` / :mod:`bench.tally`: those
modules are also loaded by the openmodule receiver, which runs under ``.venv-openmodule``.
"""
