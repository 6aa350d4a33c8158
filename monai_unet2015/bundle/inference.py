"""Inference over a folder of cases where one bad case fails alone and no output is lost.

MONAI's ``SupervisedEvaluator`` stops at the first exception: one truncated file and the
rest of a night's batch is never segmented. :class:`SegmentCases` runs the bundle's own
``preprocessing``, ``inferer`` and ``postprocessing`` (the pieces MONAI Label also reads
from ``inference.json``) case by case, the way the evaluator does (collate, infer,
decollate, post-process), and keeps going past a failed case.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
from monai.data import decollate_batch, list_data_collate
from monai.inferers import Inferer
from monai.transforms import Compose

from monai_unet2015.bundle.cases import inference_case_problem
from monai_unet2015.bundle.errors import error_line
from monai_unet2015.data.datalists import add_output_names
from monai_unet2015.data.dataset_folder import release_series_links
from monai_unet2015.distributed import rank_and_world_size
from monai_unet2015.engines.handlers import channel_mismatch
from monai_unet2015.paths import check_not_mangled

__all__ = ["SegmentCases", "CasesFailedError", "InferenceReport"]

logger = logging.getLogger(__name__)


class CasesFailedError(RuntimeError):
    """Some cases of an inference run failed; the others' outputs were written."""


@dataclass
class InferenceReport:
    """What an inference run did: ``written`` / ``skipped`` / ``failed`` as (case, detail) pairs."""

    written: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"{len(self.written)} case(s) segmented, {len(self.skipped)} skipped, {len(self.failed)} failed"]
        lines += [f"  skipped {case}: {why}" for case, why in self.skipped]
        lines += [f"  FAILED {case}: {why}" for case, why in self.failed]
        return "\n".join(lines)


def _gathered(report: InferenceReport, world_size: int) -> InferenceReport:
    """The reports of every rank in one (in rank order); ``report`` itself in one process."""
    if world_size == 1:
        return report
    reports: list = [None] * world_size
    dist.all_gather_object(reports, report)
    whole = InferenceReport()
    for part in reports:
        whole.written += part.written
        whole.skipped += part.skipped
        whole.failed += part.failed
    return whole


def _stop_together(error: BaseException | None, rank: int, world_size: int) -> None:
    """Under torch.distributed, every rank learns whether any rank failed before the first case.

    A rank that stopped on its own would leave the others waiting in the collective at the
    end of the run; so each rank reports here, and where another rank failed this one
    raises a ``RuntimeError`` naming it (the failed rank raises its own error after this).
    """
    if world_size < 2:
        return
    messages: list = [None] * world_size
    dist.all_gather_object(messages, None if error is None else error_line(error))
    failed = [(r, m) for r, m in enumerate(messages) if m is not None and r != rank]
    if failed and error is None:
        other, message = failed[0]
        raise RuntimeError(f"rank {other} stopped before segmenting: {message}")


def check_writable(folders: Iterable[Path]) -> None:
    """Create each output folder and a file in it, before any case is computed; a ``ValueError`` if one fails.

    A probe file, not ``os.access``: a process running as root passes ``os.access`` on a
    read-only mount.

    Example::

        >>> import tempfile
        >>> check_writable([Path(tempfile.mkdtemp()) / "masks"])
    """
    for folder in sorted(set(folders)):
        folder = check_not_mangled(folder, "output_dir")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=folder, prefix=".write_check_"):
                pass
        except OSError as error:
            raise ValueError(
                f"output_dir {folder} is not writable ({type(error).__name__}: {error.strerror or error}): pass "
                "--output_dir with a folder this process can write to. Nothing was computed."
            ) from None


def _planned_outputs(postprocessing: Callable, item: dict) -> list[Path]:
    transforms = postprocessing.transforms if isinstance(postprocessing, Compose) else [postprocessing]
    return [path for t in transforms if hasattr(t, "planned_outputs") for path in t.planned_outputs(item)]


class SegmentCases:
    """Segment each case of ``datalist``; a failed case is reported and the others go on.

    Before the first case: each case gets an output name unique to its input where it has
    none (:func:`~monai_unet2015.data.add_output_names`; two inputs with one name are an
    error), the weights are loaded (``load_weights``), each case's header is checked
    (:func:`~monai_unet2015.bundle.cases.inference_case_problem`), and a case whose
    outputs (what the postprocessing's writers plan, e.g.
    :class:`~monai_unet2015.data.SaveMaskd`) already exist is skipped unless ``overwrite``.
    Then per case: ``preprocessing`` -> ``inferer(image, network)`` under ``torch.no_grad``
    -> ``postprocessing`` (which writes the files), exactly as ``SupervisedEvaluator`` does.
    At the end a summary is logged (one line per skipped or failed case with the file and
    the reason), and :class:`CasesFailedError` is raised if any case failed, so the command
    exits non-zero with the good outputs kept.

    Under torch.distributed (``configs/multi_gpu_inference.json`` with torchrun) the cases
    are shared out over the ranks: names are given on the whole list first, then rank ``r``
    of ``n`` takes cases ``r, r + n, r + 2n, ...``, so no case is done twice and none is left
    out. Every rank writes its own outputs; the reports are gathered, rank 0 logs the
    summary of the whole run, and every rank raises if any case failed anywhere.

    Args:
        datalist: ``[{"image": path, ...}]``, with ``"name"`` where the caller chose the
            output names.
        network: the segmentation network, ``(B, C, *S)`` in, logits out.
        preprocessing: loads and prepares one case dict.
        inferer: e.g. :class:`~monai_unet2015.inferers.OverlapTileInferer`.
        postprocessing: turns ``{"image", "pred", ...}`` into files.
        device: where the network runs.
        in_channels: the network's input channels (checked per case).
        spatial_dims: 2 or 3 (checked per case).
        load_weights: called once before the first case (e.g.
            :class:`~monai_unet2015.engines.LoadNetworkWeights`), or None.
        overwrite: replace existing outputs instead of skipping their cases.
        image_key: the image's key.

    Example::

        >>> import torch
        >>> from monai.inferers import SimpleInferer
        >>> runner = SegmentCases([], torch.nn.Identity(), lambda d: d, SimpleInferer(), lambda d: d, "cpu")
        >>> runner.run().summary()
        '0 case(s) segmented, 0 skipped, 0 failed'
    """

    def __init__(
        self,
        datalist: Sequence[dict],
        network: torch.nn.Module,
        preprocessing: Callable,
        inferer: Inferer,
        postprocessing: Callable,
        device: str | torch.device,
        in_channels: int = 1,
        spatial_dims: int = 3,
        load_weights: Callable[[], object] | None = None,
        overwrite: bool = False,
        image_key: str = "image",
    ) -> None:
        if spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims!r}.")
        self.datalist, self.network, self.preprocessing = list(datalist), network, preprocessing
        self.inferer, self.postprocessing, self.device = inferer, postprocessing, torch.device(device)
        self.in_channels, self.spatial_dims, self.load_weights = int(in_channels), spatial_dims, load_weights
        self.overwrite, self.image_key = bool(overwrite), image_key

    def run(self) -> InferenceReport:
        """Segment every case; raises :class:`CasesFailedError` at the end if any failed."""
        datalist = add_output_names([dict(item) for item in self.datalist], self.image_key)
        rank, world_size = rank_and_world_size()
        datalist = datalist[rank::world_size]
        report = InferenceReport()
        try:
            todo = self._prepare(datalist, report)
        except Exception as error:  # noqa: BLE001 (every rank must hear of it, see _stop_together)
            _stop_together(error, rank, world_size)
            raise
        _stop_together(None, rank, world_size)
        self.network.eval()
        for index, item in enumerate(todo, start=1):
            case = str(item.get("source", item[self.image_key]))
            began = time.perf_counter()
            try:
                self._segment(item)
            except Exception as error:  # one bad case must not cost the others their masks
                report.failed.append((case, error_line(error)))
                logger.error("case %d/%d FAILED %s: %s", index, len(todo), case, error_line(error))
                logger.debug("traceback of %s", case, exc_info=True)
                continue
            finally:
                release_series_links(item[self.image_key])
            report.written.append((case, ", ".join(map(str, _planned_outputs(self.postprocessing, item)))))
            logger.info("case %d/%d done in %.1f s: %s", index, len(todo), time.perf_counter() - began, case)
        report = _gathered(report, world_size)
        if rank == 0:
            logger.info("%s", report.summary())
        if report.failed:
            raise CasesFailedError(report.summary())
        return report

    def _prepare(self, datalist: list[dict], report: InferenceReport) -> list[dict]:
        """Weights, per-case checks, writable output folders: the cases left to segment."""
        if self.load_weights is not None:
            self.load_weights()
        todo = self._check_before_work(datalist, report)
        check_writable({path.parent for item in todo for path in _planned_outputs(self.postprocessing, item)})
        return todo

    def _check_before_work(self, datalist: list[dict], report: InferenceReport) -> list[dict]:
        todo = []
        for item in datalist:
            case = str(item.get("source", item[self.image_key]))
            problem = inference_case_problem(item, self.in_channels, self.spatial_dims)
            if problem:
                report.failed.append((case, problem.removeprefix(f"{case}: ")))
                logger.error("%s", problem)
                continue
            existing = [str(p) for p in _planned_outputs(self.postprocessing, item) if p.exists()]
            if existing and not self.overwrite:
                report.skipped.append((case, f"{', '.join(existing)} exists (--overwrite true replaces it)"))
                logger.warning("skipped %s: %s exists (--overwrite true replaces it)", case, ", ".join(existing))
                continue
            todo.append(item)
        return todo

    def _segment(self, item: dict) -> None:
        data = self.preprocessing(dict(item))
        image = data[self.image_key]
        if image.shape[0] != self.in_channels:
            raise ValueError(f"the image {channel_mismatch(image.shape[0], self.in_channels)}")
        batch = list_data_collate([data])
        inputs = batch[self.image_key].to(self.device)
        with torch.no_grad():
            pred = self.inferer(inputs, self.network)
        extras = {k: v for k, v in data.items() if not isinstance(v, torch.Tensor)}
        for output in decollate_batch({self.image_key: inputs, "pred": pred}):
            self.postprocessing({**extras, **output})
