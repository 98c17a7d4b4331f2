"""Build of the optional native extension (everything else is in pyproject.toml).

agents/domain/_fingerprint.c is the fast path of the clustering stage (agents/domain/fingerprint.py
has the pure-Python fallback with the same results): `optional=True` lets an install without a
C compiler succeed, and the stage then runs the fallback.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("agents.domain._fingerprint", ["agents/domain/_fingerprint.c"],
                             extra_compile_args=["-O3", "-std=c11"], optional=True)])
