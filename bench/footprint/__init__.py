"""``python -m bench footprint``: memory and start-up of N idle services, as processes or as plugins."""

#: the topic every idle service subscribes (standard library only here: the openmodule peer imports it too).
TOPIC = "footprint"
