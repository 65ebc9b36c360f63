"""The optional C accelerators of tornadoservice.wire.jencode; everything else is in pyproject.toml.

``optional=True``: without a C compiler (or Python headers) the build of the extension fails
quietly and the package installs without it, using the pure-Python path.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "tornadoservice.wire._speedups",
            sources=["src/tornadoservice/wire/_speedups.c"],
            optional=True,
        )
    ]
)
