"""``python -m bench scale``: memory, start-up and delivered pub/sub throughput of one host with N plugins."""

#: plugin ``i`` of N subscribes ``scale_<i>`` (standard library only here).
TOPIC_PREFIX = "scale_"
