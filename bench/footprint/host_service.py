"""openmodule-host with N idle plugins (``--count``), each on a worker thread or in a child process."""

from __future__ import annotations

import argparse
import logging
import sys

from openmodule_host import Host, HostConfig, PluginCandidate

from ..protocol import emit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sub", required=True)
    parser.add_argument("--pub", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--isolation", choices=("thread", "process"), required=True)
    parser.add_argument("--data-dir", required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    config = HostConfig(name="om_footprint_host", broker="external", broker_sub=args.sub, broker_pub=args.pub,
                        log_level="WARNING", dsgvo=False, isolation=args.isolation, data_dir=args.data_dir)
    candidates = [PluginCandidate.from_target(f"idle_{index}", "bench.footprint.idle_plugin:plugin")
                  for index in range(args.count)]
    with Host(config, candidates, strict=True, report=lambda _: None):
        emit("ready")
        sys.stdin.read()


if __name__ == "__main__":
    main()
