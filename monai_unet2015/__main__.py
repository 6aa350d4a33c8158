"""Command line: ``python -m monai_unet2015 {demo,smoke} --output-dir DIR``."""

from __future__ import annotations

import argparse
import logging
import sys

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m monai_unet2015", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("demo", "the main job (for now the smoke run; the bundles issue turns it into train + infer)"),
        ("smoke", "build the 2D and 3D paper nets and segment a generated sample through each"),
    ):
        command = commands.add_parser(name, help=help_text)
        command.add_argument("--output-dir", default="demo_output", help="where results go (default: demo_output)")
        command.add_argument("--device", default=None, help="torch device (default: cuda if present, else cpu)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    if args.command in ("demo", "smoke"):
        from monai_unet2015.smoke import run_smoke

        summary = run_smoke(args.output_dir, device=args.device)
        for name, case in summary["cases"].items():
            sys.stdout.write(
                f"{name}: {case['network']} {case['input_shape']} -> {case['output_shape']} "
                f"in {case['forward_seconds']} s; mask: {case['mask']}\n"
            )
        sys.stdout.write(f"summary: {args.output_dir}/smoke_summary.json\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
