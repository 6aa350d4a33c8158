"""nnU-Net v2 driven for the peer benchmark: plan, train for a wall-clock budget, predict.

Runs in nnU-Net's own environment (``make peer-install``: ``.venv-nnunet``), never in ours,
and imports nothing of this project. :mod:`benchmarks.peer_nnunet` calls it with the nnU-Net
folders set in the environment (``nnUNet_raw``, ``nnUNet_preprocessed``, ``nnUNet_results``).

Training is nnU-Net's own ``nnUNetTrainer`` (its network, loss, augmentation, sampling,
optimizer) with one change, the budget: instead of 1000 epochs of 250 iterations, it trains
for ``--budget-s`` seconds of its training loop, measured here, and its polynomial learning
rate decays over that time (``lr = 0.01 * (1 - t / budget) ** 0.9``) instead of over epochs,
so a short run still ends on a small learning rate as a full one does. Its per-epoch
validation is skipped (it only logs a pseudo Dice; nnU-Net predicts with the final
checkpoint). The same budget and schedule shape are what the bundle gets.

Example (inside .venv-nnunet)::

    python benchmarks/nnunet_driver.py plan 505 2d 3d_fullres 3d_lowres
    python benchmarks/nnunet_driver.py train 501 2d --budget-s 240 --seed 0 --output-dir OUT
    python benchmarks/nnunet_driver.py predict OUT IN_DIR PRED_DIR --mirroring
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

# The line that carries the answer to peer_nnunet.py; nnU-Net prints much else.
RESULT = "peer-result: "


def plan(dataset_id: int, configurations: list[str]) -> dict:
    """nnU-Net's own planner and preprocessing, with its dataset integrity check.

    Returns ``{"configurations": [...]}``: those of ``configurations`` that the planner made
    (it makes ``3d_lowres`` only where the images are large against the ``3d_fullres`` patch).
    """
    from nnunetv2.paths import nnUNet_preprocessed
    from nnunetv2.utilities.dataset_name_id_conversion import maybe_convert_to_dataset_name

    command = ["nnUNetv2_plan_and_preprocess", "-d", str(dataset_id), "-c", *configurations]
    command += ["--verify_dataset_integrity", "-np", str(os.cpu_count())]
    subprocess.run([str(Path(sys.executable).parent / command[0]), *command[1:]], check=True)
    plans_file = Path(nnUNet_preprocessed) / maybe_convert_to_dataset_name(dataset_id) / "nnUNetPlans.json"
    planned = json.loads(plans_file.read_text())["configurations"]
    return {"configurations": [name for name in configurations if name in planned]}


def time_budget_trainer_class():
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

    class nnUNetTrainerTimeBudget(nnUNetTrainer):
        """nnU-Net's trainer for a wall-clock budget; see the module docstring."""

        budget_s: float = 240.0

        def run_training(self):
            self.on_train_start()
            began = time.perf_counter()
            iterations, elapsed = 0, 0.0
            while elapsed < self.budget_s:
                self.on_epoch_start()
                self.on_train_epoch_start()
                outputs = []
                for _ in range(self.num_iterations_per_epoch):
                    elapsed = time.perf_counter() - began
                    if elapsed >= self.budget_s:
                        break
                    for group in self.optimizer.param_groups:
                        group["lr"] = self.initial_lr * (1 - elapsed / self.budget_s) ** 0.9
                    outputs.append(self.train_step(next(self.dataloader_train)))
                    iterations += 1
                if outputs:
                    self.on_train_epoch_end(outputs)
                self.current_epoch += 1
            self.train_seconds = time.perf_counter() - began
            self.iterations = iterations
            self.on_train_end()

    return nnUNetTrainerTimeBudget


def train(dataset_id: int, configuration: str, budget_s: float, seed: int, output_dir: Path) -> dict:
    from nnunetv2.paths import nnUNet_preprocessed
    from nnunetv2.utilities.dataset_name_id_conversion import maybe_convert_to_dataset_name

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(os.cpu_count())
    name = maybe_convert_to_dataset_name(dataset_id)
    preprocessed = Path(nnUNet_preprocessed) / name
    plans = json.loads((preprocessed / "nnUNetPlans.json").read_text())
    plans["continue_training"] = False  # as nnUNetv2_train sets it
    dataset_json = json.loads((preprocessed / "dataset.json").read_text())
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    trainer_class = time_budget_trainer_class()
    trainer = trainer_class(
        plans=plans, configuration=configuration, fold="all", dataset_json=dataset_json, device=device
    )
    trainer.budget_s = budget_s
    trainer.run_training()
    # nnU-Net's predictor rebuilds the network from the trainer class named in the checkpoint,
    # looked up inside its own package; the architecture is nnUNetTrainer's, so name that.
    final = Path(trainer.output_folder) / "checkpoint_final.pth"
    checkpoint = torch.load(final, map_location="cpu", weights_only=False)
    checkpoint["trainer_name"] = "nnUNetTrainer"
    torch.save(checkpoint, final)
    record = {
        "train_s": round(trainer.train_seconds, 1),
        "iterations": trainer.iterations,
        "batch_size": trainer.batch_size,
        "patch_size": list(trainer.configuration_manager.patch_size),
        "model_folder": trainer.output_folder_base,
        "device": str(device),
    }
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "train.json").write_text(json.dumps(record, indent=2))
    return record


def predict(model_folder: Path, input_dir: Path, output_dir: Path, mirroring: bool) -> dict:
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.set_num_threads(os.cpu_count())
    predictor = nnUNetPredictor(
        tile_step_size=0.5,
        use_gaussian=True,
        use_mirroring=mirroring,
        perform_everything_on_device=device.type == "cuda",
        device=device,
        allow_tqdm=False,
    )
    predictor.initialize_from_trained_model_folder(str(model_folder), use_folds=("all",))
    began = time.perf_counter()
    predictor.predict_from_files(
        str(input_dir),
        str(output_dir),
        overwrite=True,
        num_processes_preprocessing=1,
        num_processes_segmentation_export=1,
    )
    record = {"infer_s": round(time.perf_counter() - began, 1), "mirroring": mirroring}
    (output_dir / "predict.json").write_text(json.dumps(record, indent=2))
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("plan")
    p.add_argument("dataset_id", type=int)
    p.add_argument("configurations", nargs="+")
    t = commands.add_parser("train")
    t.add_argument("dataset_id", type=int)
    t.add_argument("configuration")
    t.add_argument("--budget-s", type=float, required=True)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--output-dir", type=Path, required=True)
    r = commands.add_parser("predict")
    r.add_argument("model_folder", type=Path)
    r.add_argument("input_dir", type=Path)
    r.add_argument("output_dir", type=Path)
    r.add_argument("--mirroring", action="store_true")
    args = parser.parse_args()
    if args.command == "plan":
        print(RESULT + json.dumps(plan(args.dataset_id, args.configurations)))
    elif args.command == "train":
        print(
            RESULT + json.dumps(train(args.dataset_id, args.configuration, args.budget_s, args.seed, args.output_dir))
        )
    else:
        print(RESULT + json.dumps(predict(args.model_folder, args.input_dir, args.output_dir, args.mirroring)))


if __name__ == "__main__":
    main()
