"""Command line: ``python -m monai_unet2015 {demo,smoke,sample-data,plan,bundle,export,dicom-node}``.

One argparse sub-parser and one handler per sub-command.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys

__all__ = ["main"]


_DESCRIPTION = (
    "The original U-Net (Ronneberger et al. 2015) and the 3D U-Net (Çiçek et al. 2016) as MONAI bundles: "
    "train, plan, export and serve them. Not for diagnostic use."
)


def _versions() -> str:
    """``monai_unet2015 X (monai Y, torch Z, Python W)``, read from the installed metadata without importing them."""
    from importlib.metadata import PackageNotFoundError, version

    from monai_unet2015 import __version__

    def installed(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    python = ".".join(map(str, sys.version_info[:3]))
    return f"monai_unet2015 {__version__} (monai {installed('monai')}, torch {installed('torch')}, Python {python})"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m monai_unet2015", description=_DESCRIPTION)
    parser.add_argument("--version", action="version", version=_versions())
    commands = parser.add_subparsers(dest="command", required=True)
    for add in (_add_demo, _add_smoke, _add_sample_data, _add_plan, _add_bundle, _add_export, _add_dicom_node):
        add(commands)
    return parser


def _add_demo(commands) -> None:
    demo = commands.add_parser(
        "demo", help="the main job: sample data, train both bundles, overlap-tile inference, metrics and a figure"
    )
    demo.add_argument("--output-dir", default="demo_output", help="where results go (default: demo_output)")
    demo.add_argument("--ct-epochs", type=int, default=150, help="3D CT bundle epochs (4 iterations each; default 150)")
    demo.add_argument(
        "--cells-epochs", type=int, default=80, help="2D cells bundle epochs (6 iterations each; default 80)"
    )
    demo.add_argument(
        "--verbose", action="store_true", help="log every training iteration (default: one line per epoch)"
    )
    demo.set_defaults(handler=_run_demo)


def _add_smoke(commands) -> None:
    smoke = commands.add_parser(
        "smoke", help="build the 2D and 3D paper nets and segment a generated sample through each"
    )
    smoke.add_argument("--output-dir", default="demo_output", help="where results go (default: demo_output)")
    smoke.add_argument("--device", default=None, help="torch device (default: cuda if present, else cpu)")
    smoke.set_defaults(handler=_run_smoke)


def _add_sample_data(commands) -> None:
    sample = commands.add_parser(
        "sample-data", help="write the generated demo dataset (CT NIfTI + DICOM, MRI, 2D cells)"
    )
    sample.add_argument("output_dir", help="folder to write (created if needed)")
    sample.add_argument(
        "--seed", type=int, default=0, help="random seed (default 0): the same seed gives the same data"
    )
    sample.add_argument("--num-ct", type=int, default=6, help="CT volumes (default 6, the last one for testing)")
    sample.add_argument("--num-mri", type=int, default=4, help="MRI volumes (default 4)")
    sample.add_argument("--num-cells", type=int, default=10, help="2D cell images (default 10)")
    sample.add_argument("--no-dicom", action="store_true", help="skip the DICOM copies of the CT cases")
    sample.set_defaults(handler=_run_sample_data)


def _add_plan(commands) -> None:
    plan = commands.add_parser(
        "plan", help="fingerprint a labelled dataset and write the bundle options that suit it (--args_file)"
    )
    plan.add_argument("dataset_dir", help="a labelled dataset folder (imagesTr/labelsTr, MSD dataset.json, ...)")
    plan.add_argument("--output", default="plan.json", help="the plan file to write (default plan.json)")
    plan.add_argument("--device", default="cpu", help="cpu or gpu: the preset, training length, 3D spacing")
    plan.add_argument("--overwrite", action="store_true", help="replace an existing plan file")
    plan.add_argument(
        "--time-budget",
        type=float,
        default=None,
        metavar="SECONDS",
        help="train for this many seconds instead of the plan's iteration count",
    )
    plan.add_argument(
        "--preset",
        default=None,
        help="plan for this bundle preset instead of --device's: slices (3D: the 2D U-Net on each slice)",
    )
    plan.add_argument(
        "--no-estimate",
        dest="estimate",
        action="store_false",
        help="skip the inference time and memory of a median case on this machine (times one tile batch)",
    )
    plan.set_defaults(handler=_run_plan)


def _add_bundle(commands) -> None:
    bundle = commands.add_parser("bundle", help="the shipped bundles: list them, or copy one out to work in")
    bundle_commands = bundle.add_subparsers(dest="bundle_command", required=True)
    listing = bundle_commands.add_parser("list", help="the names of the shipped bundles")
    listing.set_defaults(handler=_run_bundle_list)
    init = bundle_commands.add_parser("init", help="copy a shipped bundle to DIR/NAME (train and run it there)")
    init.add_argument("name", help="a shipped bundle (see: bundle list)")
    init.add_argument("directory", help="the parent folder of the copy (created if needed)")
    init.add_argument("--overwrite", action="store_true", help="replace an existing DIR/NAME, its models too")
    init.set_defaults(handler=_run_bundle_init)


def _add_export(commands) -> None:
    export = commands.add_parser(
        "export", help="write a bundle's trained network as ONNX (and an OpenVINO IR where OpenVINO is installed)"
    )
    export.add_argument("bundle", help="a bundle folder with a trained models/model.pt")
    export.add_argument("--output-dir", required=True, help="where model.onnx, model.xml/.bin and export.json go")
    _add_bundle_config_arguments(export)
    export.add_argument(
        "--format",
        default=None,
        help="onnx (model.onnx only) or openvino (the IR too); default: openvino where OpenVINO is installed",
    )
    export.add_argument(
        "--int8",
        default=None,
        metavar="FOLDER",
        help="also model_int8.xml: INT8 quantised by NNCF (pip install nncf), calibrated on the images in FOLDER "
        "(training images, not the ones you will score); run it with --backend DIR/model_int8.xml",
    )
    export.set_defaults(handler=_run_export)


def _add_bundle_config_arguments(parser: argparse.ArgumentParser) -> None:
    """``--config-file``, ``--args_file`` and ``--override``: a bundle's configs as inference merges them."""
    parser.add_argument(
        "--config-file",
        action="append",
        default=None,
        metavar="NAME",
        help="the bundle configs, in order, as in training (default inference.json; e.g. inference.json then cpu.json)",
    )
    parser.add_argument(
        "--args_file", "--args-file", default=None, help="the plan the model was trained with (plan.json)"
    )
    parser.add_argument(
        "--override",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a bundle config override, VALUE in JSON (e.g. features=[4,8,16]); repeatable",
    )


def _run_export(args: argparse.Namespace) -> int:
    from monai_unet2015.bundle.export import export_bundle

    try:
        written = export_bundle(
            args.bundle,
            args.output_dir,
            config_files=args.config_file or ("inference.json",),
            overrides=_overrides(args.override),
            args_file=args.args_file,
            format=args.format,
            int8_calibration=args.int8,
        )
    except (ValueError, FileNotFoundError, ImportError, RuntimeError) as error:
        sys.stderr.write(f"error: {error}\n")
        return 2
    sys.stdout.write("".join(f"{kind}: {path}\n" for kind, path in written.items()))
    return 0


def _add_dicom_node(commands) -> None:
    node = commands.add_parser("dicom-node", help="the DICOM node: serve (segment what a PACS sends), status")
    node_commands = node.add_subparsers(dest="node_command", required=True)
    serve = node_commands.add_parser(
        "serve", help="receive DICOM series (C-STORE), segment them with a bundle, send the DICOM SEG on"
    )
    _add_node_arguments(serve)
    serve.set_defaults(handler=_start_node)
    status = node_commands.add_parser("status", help="every series a DICOM node's journal holds")
    status.add_argument("--work-dir", required=True, help="the node's --work-dir")
    status.add_argument("--json", action="store_true", help="as JSON")
    status.set_defaults(handler=_node_status)


def _add_node_arguments(node: argparse.ArgumentParser) -> None:
    node.add_argument(
        "--bundle",
        required=True,
        help="a bundle folder with a trained models/model.pt (from: bundle init NAME DIR, then training)",
    )
    node.add_argument("--ae-title", default="MONAI_UNET2015", help="this node's AE title (default MONAI_UNET2015)")
    node.add_argument("--host", default="0.0.0.0", help="the address to listen on (default 0.0.0.0: every interface)")
    node.add_argument("--port", type=int, default=11112, help="port to listen on (default 11112)")
    node.add_argument(
        "--allowed-ae",
        action="append",
        default=[],
        metavar="AE[@HOST]",
        help="a calling AE title (optionally only from HOST) that may associate; repeatable (default: any)",
    )
    node.add_argument("--tls-cert", default=None, help="DICOM TLS: this node's certificate (PEM)")
    node.add_argument("--tls-key", default=None, help="DICOM TLS: its private key (PEM)")
    node.add_argument("--tls-ca", default=None, help="DICOM TLS: accept only clients with a certificate from this CA")
    node.add_argument("--destination", required=True, help="where the SEGs go: AE@host:port (the PACS)")
    node.add_argument("--work-dir", default=None, help="the journal's folder (default BUNDLE/dicom_node)")
    node.add_argument(
        "--series-timeout", type=float, default=10.0, help="seconds without an instance that end a series (default 10)"
    )
    node.add_argument("--retry", type=float, default=5.0, help="first retry delay when sending fails, in s (default 5)")
    node.add_argument(
        "--max-attempts", type=int, default=10, help="sending attempts before a series is failed (default 10)"
    )
    node.add_argument(
        "--outputs",
        default="seg",
        help="what goes back for each series, comma-separated, sent in this order: seg, rtstruct (default seg)",
    )
    node.add_argument(
        "--keep-days",
        type=float,
        default=None,
        help="remove a series' instances and results this many days after it ended (sent, kept or failed), "
        "and objects kept aside this many days after they came (default: keep everything)",
    )
    _add_bundle_config_arguments(node)


def _node_status(args: argparse.Namespace) -> int:
    from monai_unet2015.dicom_node import series_status, status_json, status_table

    try:
        rows = series_status(args.work_dir)
    except FileNotFoundError as error:
        sys.stderr.write(f"error: {error}\n")
        return 2
    sys.stdout.write((status_json(rows) if args.json else status_table(rows)) + "\n")
    return 0


def _start_node(args: argparse.Namespace) -> int:
    from monai_unet2015.dicom_node import DicomNode, tls_server_context

    logging.getLogger("pynetdicom").setLevel(logging.WARNING)  # a line per PDU otherwise
    try:
        if (args.tls_cert is None) != (args.tls_key is None) or (args.tls_ca and not args.tls_cert):
            raise ValueError("DICOM TLS needs --tls-cert and --tls-key together (and --tls-ca only with them).")
        tls = tls_server_context(args.tls_cert, args.tls_key, args.tls_ca) if args.tls_cert else None
        node = DicomNode(
            args.bundle,
            args.ae_title,
            args.port,
            args.destination,
            work_dir=args.work_dir,
            series_timeout=args.series_timeout,
            overrides=_overrides(args.override),
            retry_initial=args.retry,
            host=args.host,
            allowed=args.allowed_ae,
            max_attempts=args.max_attempts,
            tls=tls,
            config_files=args.config_file or ("inference.json",),
            args_file=args.args_file,
            keep_days=args.keep_days,
            outputs=[name.strip() for name in args.outputs.split(",") if name.strip()],
        )
    except (ValueError, FileNotFoundError, OSError) as error:
        sys.stderr.write(f"error: {error}\n")
        return 2
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM stops it as Ctrl-C does
    node.serve_forever()
    return 0


def _overrides(pairs: list[str]) -> dict:
    overrides = {}
    for pair in pairs:
        key, separator, value = pair.partition("=")
        if not separator or not key:
            raise ValueError(f"--override must be KEY=VALUE, got {pair!r}.")
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key] = value
    return overrides


def _run_bundle_list(args: argparse.Namespace) -> int:
    from monai_unet2015.bundle.locations import bundle_names

    sys.stdout.write("\n".join(bundle_names()) + "\n")
    return 0


def _run_bundle_init(args: argparse.Namespace) -> int:
    from monai_unet2015.bundle.locations import init_bundle
    from monai_unet2015.bundle.workflow import WORKFLOW_NAME

    try:
        folder = init_bundle(args.name, args.directory, overwrite=args.overwrite)
    except (FileNotFoundError, FileExistsError) as error:
        sys.stderr.write(f"error: {error}\n")
        return 2
    sys.stdout.write(
        f"{folder}\ntrain it there: cd {folder} && python -m monai.bundle run --workflow_name {WORKFLOW_NAME} "
        "--config_file configs/train.json "
        "--meta_file configs/metadata.json --logging_file configs/logging.conf --dataset_dir DATASET_DIR\n"
    )
    return 0


def _run_sample_data(args: argparse.Namespace) -> int:
    from monai_unet2015.data.sample_data import write_sample_data

    for name in ("num_ct", "num_mri", "num_cells"):
        if getattr(args, name) == 1 or getattr(args, name) < 0:
            sys.stderr.write(f"--{name.replace('_', '-')} must be 0 or at least 2, got {getattr(args, name)}\n")
            return 2
    manifest = write_sample_data(
        args.output_dir,
        num_ct=args.num_ct,
        num_mri=args.num_mri,
        num_cells=args.num_cells,
        dicom=not args.no_dicom,
        seed=args.seed,
    )
    for name, part in manifest["parts"].items():
        sys.stdout.write(f"{name}: {part['folder']}\n")
    sys.stdout.write(f"manifest: {args.output_dir}/manifest.json\n")
    return 0


def _run_plan(args: argparse.Namespace) -> int:
    from monai_unet2015.planning import write_plan

    try:
        report = write_plan(
            args.dataset_dir,
            args.output,
            args.device,
            overwrite=args.overwrite,
            time_budget_s=args.time_budget,
            preset=args.preset,
            estimate=args.estimate,
        )
    except (ValueError, FileNotFoundError, FileExistsError) as error:
        sys.stderr.write(f"error: {error}\n")
        return 2
    sys.stdout.write(report + "\n")
    return 0


def _run_demo(args: argparse.Namespace) -> int:
    from monai_unet2015.bundle.demo import run_demo

    metrics = run_demo(args.output_dir, ct_epochs=args.ct_epochs, cells_epochs=args.cells_epochs, verbose=args.verbose)
    ct, cells = metrics["ct_3d"], metrics["cells_2d"]
    organs = ", ".join(f"{k} {v:.2f}" for k, v in ct["dice"].items())
    sys.stdout.write(
        f"\n3D CT bundle: test Dice {organs} (mean {ct['mean_dice']:.2f}; chance 0), "
        f"trained in {ct['train_seconds']} s on {metrics['device']}\n"
        f"  mask: {ct['mask']}\n  DICOM input -> {', '.join(ct['dicom_outputs'])}\n"
        f"2D cells bundle: test Dice {cells['mean_dice']:.2f}, cells / predicted objects "
        f"{[(r['cells'], r['predicted_objects']) for r in cells['test_images']]}\n  masks: {cells['masks']}\n"
        f"metrics: {metrics['metrics_file']}\nfigure: {metrics['figure']}\n"
        f"total: {metrics['total_seconds']} s\n"
    )
    return 0


def _run_smoke(args: argparse.Namespace) -> int:
    from monai_unet2015.smoke import run_smoke

    summary = run_smoke(args.output_dir, device=args.device)
    for name, case in summary["cases"].items():
        sys.stdout.write(
            f"{name}: {case['network']} {case['input_shape']} -> {case['output_shape']} "
            f"in {case['forward_seconds']} s; mask: {case['mask']}\n"
        )
    sys.stdout.write(f"summary: {args.output_dir}/smoke_summary.json\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(sys.argv[1:] if argv is None else list(argv))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
