"""An idle raw pyzmq service: a PUB and a SUB socket on the broker, nothing else (the floor)."""

from __future__ import annotations

import argparse
import sys

import zmq

from ..protocol import emit
from . import TOPIC


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sub", required=True)
    parser.add_argument("--pub", required=True)
    args = parser.parse_args()
    context = zmq.Context()
    pub, sub = context.socket(zmq.PUB), context.socket(zmq.SUB)
    pub.connect(args.sub)
    sub.connect(args.pub)
    sub.setsockopt(zmq.SUBSCRIBE, TOPIC.encode())
    emit("ready")
    sys.stdin.read()  # until the orchestrator closes stdin
    context.destroy(linger=0)


if __name__ == "__main__":
    main()
