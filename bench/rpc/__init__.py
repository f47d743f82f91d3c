"""``python -m bench rpc``: RPC round trips and 16-in-flight throughput, raw pyzmq vs openmodule-host vs openmodule.

Only the standard library is imported here and in :mod:`bench.rpc.protocol` / :mod:`bench.rpc.driver`: the
openmodule peers load them under ``.venv-openmodule``.
"""
