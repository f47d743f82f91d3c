"""The soak test: a host under steady mixed traffic for minutes must stay flat (see :mod:`.soak`)."""
