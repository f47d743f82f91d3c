"""The fuzz suite: hostile frames of every kind to every topic the host subscribes to (see :mod:`.frames`)."""
