"""The protocol that chooses settings on validation folds of the training cases (benchmarks/validation_folds.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from validation_folds import choose, fold_datasets, training_cases  # noqa: E402


def write_cases(root: Path, names: list[str]) -> Path:
    for sub in ("imagesTr", "labelsTr"):
        (root / sub).mkdir(parents=True, exist_ok=True)
        for name in names:
            (root / sub / f"{name}.nii.gz").write_text(f"{sub} {name}")
    return root


@pytest.mark.parametrize(("cases", "folds", "expected"), [(5, 4, 4), (3, 4, 3), (8, 2, 2)])
def test_each_training_case_is_validated_exactly_once_and_never_trained_on_in_its_fold(
    tmp_path, cases, folds, expected
):
    names = [f"case_{i}" for i in range(cases)]
    splits = fold_datasets(write_cases(tmp_path / "data", names), folds, tmp_path / "work")
    assert len(splits) == expected
    validated = sorted(name for fold in splits for name in fold.scored_on)
    assert validated == names
    for fold in splits:
        assert not set(fold.trained_on) & set(fold.scored_on)
        assert sorted(fold.trained_on + fold.scored_on) == names
        assert sorted(training_cases(fold.validation)) == sorted(fold.scored_on)
        image, label = training_cases(fold.train)[fold.trained_on[0]]
        assert image.read_text() == f"imagesTr {fold.trained_on[0]}" and label.read_text().startswith("labelsTr")


def test_the_split_is_the_same_whatever_the_file_order(tmp_path):
    names = ["b", "a", "d", "c"]
    first = fold_datasets(write_cases(tmp_path / "one", names), 2, tmp_path / "w1")
    second = fold_datasets(write_cases(tmp_path / "two", sorted(names)), 2, tmp_path / "w2")
    assert [fold.scored_on for fold in first] == [fold.scored_on for fold in second] == [["a", "c"], ["b", "d"]]


def test_one_training_case_cannot_be_split(tmp_path):
    with pytest.raises(ValueError, match="has 1 training case\\(s\\): validation folds need at least 2"):
        fold_datasets(write_cases(tmp_path / "data", ["only"]), 4, tmp_path / "work")


def test_folds_must_be_at_least_two(tmp_path):
    with pytest.raises(ValueError, match="folds must be at least 2, got 1"):
        fold_datasets(write_cases(tmp_path / "data", ["a", "b"]), 1, tmp_path / "work")


def runs(scores: dict[str, list[float]]) -> list[dict]:
    return [{"step": step, "fold": fold, "key": key} for step, keys in scores.items() for fold, key in enumerate(keys)]


def test_the_step_with_the_best_mean_over_folds_is_chosen():
    choice = choose(runs({"paper": [0.8, 0.6], "default": [0.7, 0.75], "other": [0.9, 0.1]}))
    assert choice["chosen"] == "default"
    assert choice["by_step"]["paper"] == {"mean": 0.7, "min": 0.6, "max": 0.8, "runs": 2}


def test_a_tie_keeps_the_earlier_step():
    assert choose(runs({"paper": [0.5, 0.7], "default": [0.7, 0.5]}))["chosen"] == "paper"


def test_an_unfinished_grid_cannot_choose():
    with pytest.raises(ValueError, match="different numbers of fold runs"):
        choose(runs({"paper": [0.5, 0.7], "default": [0.7]}))
    with pytest.raises(ValueError, match="no fold runs"):
        choose([])
