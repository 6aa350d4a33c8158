"""Input/output size arithmetic of a U-Net with valid (unpadded) convolutions.

Every level of the contracting path applies ``convs_per_level`` valid convolutions of
size ``kernel_size`` (each removes ``kernel_size - 1`` pixels per axis) and then a 2x2
max-pooling with stride 2, which needs an even size; the expansive path doubles the size
with a 2x2 up-convolution and applies the same convolutions again. For the paper's 2D
net (4 poolings, two 3x3 convolutions per level) a 572 input gives a 388 output, and an
input is valid exactly when ``s % 16 == 12`` and ``s >= 188`` (Ronneberger et al. 2015).

All sizes are affine in the size of the bottleneck (the lowest level's output), which is
how these functions invert the arithmetic without searching.

The functions are per axis; the networks' ``output_size`` / ``input_size`` methods apply
them to every spatial axis.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "valid_output_size",
    "valid_input_size",
    "nearest_valid_sizes",
    "is_valid_size",
    "center_crop_margins",
]


def _shrink_per_level(kernel_size: int, convs_per_level: int) -> int:
    return (kernel_size - 1) * convs_per_level


def _bottleneck_from_input(size: int, num_poolings: int, shrink: int) -> int | None:
    """Bottleneck size for ``size``, or None where a pooling sees an odd or empty size."""
    for _ in range(num_poolings):
        size -= shrink
        if size < 2 or size % 2:
            return None
        size //= 2
    size -= shrink
    return size if size >= 1 else None


def _output_from_bottleneck(bottleneck: int, num_poolings: int, shrink: int) -> int | None:
    size = bottleneck
    for _ in range(num_poolings):
        size = 2 * size - shrink
        if size < 1:
            return None
    return size


def _input_from_bottleneck(bottleneck: int, num_poolings: int, shrink: int) -> int:
    size = bottleneck
    for _ in range(num_poolings):
        size = 2 * (size + shrink)
    return size + shrink


def _smallest_bottleneck(num_poolings: int, shrink: int) -> int:
    """Smallest bottleneck size for which every size in the expansive path is positive."""
    # Each up-conv doubles and each level removes ``shrink``; a bottleneck of ``shrink``
    # keeps every level at least ``shrink`` wide, so the answer lies in [1, shrink].
    for bottleneck in range(1, shrink + 2):
        if _output_from_bottleneck(bottleneck, num_poolings, shrink) is not None:
            return bottleneck
    raise AssertionError("unreachable: a bottleneck of shrink + 1 always works")  # pragma: no cover


def is_valid_size(size: int, num_poolings: int, kernel_size: int = 3, convs_per_level: int = 2) -> bool:
    """Whether ``size`` is a valid input size along one axis.

    Example::

        >>> is_valid_size(572, num_poolings=4), is_valid_size(570, num_poolings=4)
        (True, False)
    """
    shrink = _shrink_per_level(kernel_size, convs_per_level)
    bottleneck = _bottleneck_from_input(size, num_poolings, shrink)
    return bottleneck is not None and bottleneck >= _smallest_bottleneck(num_poolings, shrink)


def nearest_valid_sizes(
    size: int, num_poolings: int, kernel_size: int = 3, convs_per_level: int = 2
) -> tuple[int | None, int]:
    """The nearest valid input sizes at or below and at or above ``size`` along one axis.

    Returns:
        ``(below, above)``; ``below`` is None where no valid size is at or below ``size``.

    Example::

        >>> nearest_valid_sizes(570, num_poolings=4)
        (556, 572)
    """
    shrink = _shrink_per_level(kernel_size, convs_per_level)
    smallest = _smallest_bottleneck(num_poolings, shrink)
    step = 2**num_poolings
    offset = _input_from_bottleneck(0, num_poolings, shrink)  # input = step * bottleneck + offset
    bottleneck_below = (size - offset) // step
    below = None if bottleneck_below < smallest else step * bottleneck_below + offset
    bottleneck_above = max(smallest, -((offset - size) // step))  # ceil division
    return below, step * bottleneck_above + offset


def valid_output_size(size: int, num_poolings: int, kernel_size: int = 3, convs_per_level: int = 2) -> int:
    """Output size along one axis for a valid input ``size``.

    Raises:
        ValueError: where ``size`` is not a valid input size; the message names the nearest
            valid sizes below and above.

    Example::

        >>> valid_output_size(572, num_poolings=4)
        388
    """
    shrink = _shrink_per_level(kernel_size, convs_per_level)
    bottleneck = _bottleneck_from_input(size, num_poolings, shrink)
    output = None if bottleneck is None else _output_from_bottleneck(bottleneck, num_poolings, shrink)
    if output is None:
        below, above = nearest_valid_sizes(size, num_poolings, kernel_size, convs_per_level)
        nearest = f"{above}" if below is None else f"{below} or {above}"
        raise ValueError(
            f"input size {size} is not valid for a valid-convolution U-Net with {num_poolings} poolings "
            f"(every 2x2 pooling needs an even size and every level a positive one); nearest valid: {nearest}."
        )
    return output


def valid_input_size(output_size: int, num_poolings: int, kernel_size: int = 3, convs_per_level: int = 2) -> int:
    """Smallest valid input size whose output is at least ``output_size`` along one axis.

    Example::

        >>> valid_input_size(388, num_poolings=4), valid_input_size(389, num_poolings=4)
        (572, 588)
    """
    if output_size < 1:
        raise ValueError(f"output_size must be a positive integer, got {output_size}.")
    shrink = _shrink_per_level(kernel_size, convs_per_level)
    step = 2**num_poolings
    output_offset = _output_from_bottleneck_affine_offset(num_poolings, shrink)  # output = step * b - offset
    bottleneck = max(_smallest_bottleneck(num_poolings, shrink), -((-(output_size + output_offset)) // step))
    return _input_from_bottleneck(bottleneck, num_poolings, shrink)


def _output_from_bottleneck_affine_offset(num_poolings: int, shrink: int) -> int:
    """``c`` in ``output = 2**num_poolings * bottleneck - c`` (ignoring positivity)."""
    size = 0
    for _ in range(num_poolings):
        size = 2 * size - shrink
    return -size


def per_axis(sizes: int | Sequence[int], spatial_dims: int, name: str) -> tuple[int, ...]:
    """Expand an int to ``spatial_dims`` sizes, or check a sequence has that many ints."""
    if isinstance(sizes, int) and not isinstance(sizes, bool):
        return (sizes,) * spatial_dims
    if not isinstance(sizes, Sequence) or isinstance(sizes, str):
        raise TypeError(f"{name} must be an int or a sequence of {spatial_dims} ints, got {sizes!r}.")
    sizes = tuple(int(s) for s in sizes)
    if len(sizes) != spatial_dims:
        raise ValueError(f"{name} must have {spatial_dims} entries (one per spatial axis), got {sizes}.")
    return sizes


def center_crop_margins(size: list[int], target: list[int], name: str) -> list[int]:
    """Per-axis offsets that crop ``size`` to its centred ``target`` (a valid net's output).

    A valid-convolution net's output is the exact centre of its input, so ground truth the
    size of the input is cropped by ``(size - target) / 2`` on each side. A negative or odd
    difference has no such centre and raises ``ValueError`` naming ``name``: cropping
    anyway would shift the label against the output. (Written for TorchScript too: the
    networks' skip connections crop with it.)

    Example::

        >>> center_crop_margins((572, 572), (388, 388), "label")
        [92, 92]
    """
    if len(size) != len(target):
        raise ValueError(f"{name} has {len(size)} spatial axes, the prediction {len(target)}.")
    margins: list[int] = []
    for axis in range(len(size)):
        difference = size[axis] - target[axis]
        if difference < 0 or difference % 2 != 0:
            raise ValueError(
                f"{name} spatial size {_as_tuple_text(size)} cannot be centre-cropped to the prediction's "
                f"{_as_tuple_text(target)}: on axis {axis} it must be larger by an even number of pixels "
                f"(a valid-convolution net crops its input symmetrically), got a difference of {difference}."
            )
        margins.append(difference // 2)
    return margins


def _as_tuple_text(sizes: list[int]) -> str:
    return "(" + ", ".join([str(int(s)) for s in sizes]) + ")"
