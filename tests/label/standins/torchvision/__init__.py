"""Test-only stand-in for torchvision (never installed, never part of the product).

monailabel 0.8.5's ``monailabel/transform/post.py`` imports ``torchvision.utils`` at module
level, for 2D pathology helpers this project does not use. PyPI's torchvision wheels are
CUDA builds that do not load with the CPU torch of the test machine, so the tests put this
folder on the server's PYTHONPATH when the real torchvision does not import.
"""
