"""``python -m bench.kv_store``: how long a KV store takes to follow the cloud, a plugin's against openmodule's.

One broker; a host (in this process) with a KV-store plugin (``tests/support/kv_plugins.py``, SQLite) and a real
openmodule 18.5.0 KV-store service (``tests/interop/peers/openmodule_kvstore.py``, its own process, SQLite).
This process plays the cloud (``KVSyncCloud``). Each round the cloud replaces every key of both services with
``--keys`` new ones, announces a reconnect, and serves both sync requests: it times, per service, the cloud's
side of the sync (``kv_sync``/``sync`` with the cloud's map, then one ``kv_sync``/``set`` with the new keys and
the deletions), i.e. two RPC round trips and the device's database work. Prints the median per service.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import zmq

from openmodule_host.testing import KVSyncCloud, PrivateBroker, TestClient, start_host
from tests.interop.peer import OpenModulePeer
from tests.support.kv_plugins import MIGRATIONS, KVPlugin

PLUGIN = "om_kv_bench_plugin_1"
OPENMODULE = "om_kv_bench_openmodule_1"
SCRIPT = Path(__file__).resolve().parents[1] / "tests" / "interop" / "peers" / "openmodule_kvstore.py"


def run(keys: int, rounds: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {PLUGIN: [], OPENMODULE: []}
    with tempfile.TemporaryDirectory() as folder:
        broker = PrivateBroker()
        context = zmq.Context()
        client = TestClient(context, broker.sub_address, broker.pub_address)
        host = start_host(broker, [(PLUGIN, KVPlugin())], config={PLUGIN: {"TESTING": True}}, data_dir=folder,
                          strict=True)
        peer = OpenModulePeer(OPENMODULE, broker.sub_address, broker.pub_address, script=SCRIPT, env={"TESTING": "1"})
        try:
            peer.wait_ready()
            peer.command("kv_store", "kv_store_ready", timeout=60, folder=str(Path(folder) / "openmodule"),
                         alembic=str(MIGRATIONS))
            client.sync()
            cloud = KVSyncCloud(client, timeout=120)
            for round_ in range(rounds):
                for service in times:
                    cloud.data[service] = {}
                    for index in range(keys):
                        cloud.put(service, f"acc-{round_}-{index}", {"plate": f"G{round_}X{index}"})
                client.set_connection_status("offline")
                client.set_connection_status("online")
                for _ in times:
                    request = cloud.wait_for_sync_request(timeout=60)
                    service = request["request"]["data"]["service"]
                    started = time.perf_counter()
                    cloud.sync(service)
                    times[service].append(time.perf_counter() - started)
                    cloud.answer(request)
                assert cloud.sync(PLUGIN) == cloud.sync(OPENMODULE) == {
                    "additions": {}, "changes": {}, "missing": {}, "status": "ok"}
        finally:
            peer.stop()
            host.stop()
            client.close()
            context.destroy(linger=0)
            broker.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, nargs="+", default=[100, 1000, 5000])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"| keys | plugin (median of {args.rounds}) | openmodule 18.5.0 |")
    print("|---|---|---|")
    for keys in args.keys:
        times = run(keys, args.rounds)
        print(f"| {keys} | {statistics.median(times[PLUGIN]) * 1000:.0f} ms "
              f"| {statistics.median(times[OPENMODULE]) * 1000:.0f} ms |", flush=True)


if __name__ == "__main__":
    main()
