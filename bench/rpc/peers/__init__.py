"""The RPC server and client of each variant, each run as its own process (``python -m bench.rpc.peers.<name>``).

Standard library only in this ``__init__``: the openmodule peers run under ``.venv-openmodule``.
"""
