"""Shared settings: hypothesis profiles and fixed seeds.

Profiles: ``default`` (random examples, 200 a test), ``quick`` (25) and ``ci``
(derandomised: the same examples on every run, and a failing one printed with the blob
that reproduces it). Choose one with ``--hypothesis-profile NAME`` or the environment
variable ``HYPOTHESIS_PROFILE`` (``.ci/run`` sets ``ci``).
"""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

# Not a doctest module: with --doctest-modules, pytest would import it as a test module
# named "conftest", which docs/notebooks/conftest.py also is.
collect_ignore = ["conftest.py"]

# Property tests run hundreds of examples in seconds; no per-example deadline, because
# a shared CI machine's hiccups are not bugs.
settings.register_profile(
    "default", max_examples=200, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("quick", max_examples=25, deadline=None)
settings.register_profile(
    "ci", max_examples=200, deadline=None, derandomize=True, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20250227)


@pytest.fixture
def lecture(rng):
    """The lecture's network with d, p, q, s = 4, 5, 3, 2 and random data."""
    d, p, q, s = 4, 5, 3, 2
    weights = [rng.normal(size=(p, d)), rng.normal(size=(q, p)), rng.normal(size=(s, q))]
    return weights, rng.normal(size=d), rng.normal(size=s)


@pytest.fixture
def without_matplotlib(monkeypatch):
    """Make ``import matplotlib`` fail, as on a machine without the ``plot`` extra."""
    import builtins

    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
