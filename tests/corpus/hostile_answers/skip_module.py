import pytest

pytest.skip("nothing to see", allow_module_level=True)


def add(a, b):
    return a - b
