"""The C extensions. ``optional=True``: without a C compiler or Python's headers the build warns and installs the
package without them; importing it then fails and the host uses its pure-Python read loop, body and send instead."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "openmodule_host_speedups._intake",
            sources=["src/openmodule_host_speedups/_intake.c"],
            depends=["src/openmodule_host_speedups/_libzmq.h"],
            libraries=["dl"],
            optional=True,
        ),
        Extension(
            "openmodule_host_speedups._publish",
            sources=["src/openmodule_host_speedups/_publish.c"],
            depends=["src/openmodule_host_speedups/_libzmq.h"],
            libraries=["dl"],
            optional=True,
        ),
    ]
)
