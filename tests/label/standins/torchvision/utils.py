"""The two names monailabel imports from ``torchvision.utils``; calling either is an error."""


def make_grid(*args, **kwargs):
    raise NotImplementedError("test stand-in for torchvision.utils.make_grid: install torchvision")


def save_image(*args, **kwargs):
    raise NotImplementedError("test stand-in for torchvision.utils.save_image: install torchvision")
