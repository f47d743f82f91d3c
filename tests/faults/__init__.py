"""The fault suite: a faulty plugin beside a healthy one, each fault in each place (see :mod:`.matrix`)."""
