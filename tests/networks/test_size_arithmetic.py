import pytest

from monai_unet2015.networks import is_valid_size, nearest_valid_sizes, valid_input_size, valid_output_size


def simulate(size: int, num_poolings: int) -> int | None:
    """Walk the paper's ladder literally: two 3x3 valid convs per level, 2x2 pooling."""
    sizes = []
    for _ in range(num_poolings):
        size -= 4
        if size < 2 or size % 2:
            return None
        sizes.append(size)
        size //= 2
    size -= 4
    if size < 1:
        return None
    for _ in range(num_poolings):
        size = 2 * size - 4
        if size < 1:
            return None
    return size


@pytest.mark.parametrize("num_poolings", [1, 2, 3, 4, 5])
def test_output_size_matches_literal_simulation(num_poolings):
    for size in range(1, 800):
        expected = simulate(size, num_poolings)
        assert is_valid_size(size, num_poolings) == (expected is not None), size
        if expected is None:
            with pytest.raises(ValueError, match="nearest valid"):
                valid_output_size(size, num_poolings)
        else:
            assert valid_output_size(size, num_poolings) == expected


def test_paper_rule_for_four_poolings():
    valid = [s for s in range(1, 2000) if is_valid_size(s, 4)]
    assert valid == [s for s in range(188, 2000) if s % 16 == 12]
    assert valid_output_size(572, 4) == 388


@pytest.mark.parametrize("num_poolings", [1, 2, 3, 4])
def test_input_size_is_the_smallest_covering_tile(num_poolings):
    for output in range(1, 500):
        tile = valid_input_size(output, num_poolings)
        assert is_valid_size(tile, num_poolings)
        assert valid_output_size(tile, num_poolings) >= output
        smaller = [s for s in range(1, tile) if is_valid_size(s, num_poolings)]
        assert all(valid_output_size(s, num_poolings) < output for s in smaller)


@pytest.mark.parametrize("num_poolings", [2, 4])
def test_round_trip_on_valid_sizes(num_poolings):
    for size in range(1, 900):
        if is_valid_size(size, num_poolings):
            assert valid_input_size(valid_output_size(size, num_poolings), num_poolings) == size


@pytest.mark.parametrize("num_poolings", [1, 3, 4])
def test_nearest_valid_sizes(num_poolings):
    valid = [s for s in range(1, 1200) if is_valid_size(s, num_poolings)]
    for size in range(1, 1000):
        below, above = nearest_valid_sizes(size, num_poolings)
        assert below == max((s for s in valid if s <= size), default=None)
        assert above == min(s for s in valid if s >= size)


def test_error_names_nearest_sizes():
    with pytest.raises(ValueError, match=r"input size 570 .* nearest valid: 556 or 572"):
        valid_output_size(570, 4)
    with pytest.raises(ValueError, match=r"input size 100 .* nearest valid: 188\."):
        valid_output_size(100, 4)


def test_input_size_rejects_non_positive_output():
    with pytest.raises(ValueError, match="output_size must be a positive integer, got 0"):
        valid_input_size(0, 4)
