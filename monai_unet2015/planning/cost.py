"""What inference with a plan will cost on this machine, said when the plan is made.

The bundle's own ``inference.json`` with the plan's preset and options makes the network and
the :class:`~monai_unet2015.inferers.OverlapTileInferer`; the inferer's
:meth:`~monai_unet2015.inferers.OverlapTileInferer.estimate` then counts the tiles of a
median case on the network's grid and times one tile batch here (untrained weights: the time
does not depend on them).
"""

from __future__ import annotations

from collections.abc import Mapping

from monai.bundle import ConfigParser

from monai_unet2015.bundle.locations import bundle_path
from monai_unet2015.data.bundle_configs import with_common_config
from monai_unet2015.inferers.estimate import InferenceEstimate

__all__ = ["median_case_on_network_grid", "plan_inference_estimate"]


def median_case_on_network_grid(fingerprint: Mapping, pixdim: list[float] | None) -> tuple[int, ...]:
    """The median case's size after resampling to ``pixdim`` (as it is where there is none).

    Example::

        >>> median_case_on_network_grid({"median_shape": [512, 512, 100], "median_spacing": [0.8, 0.8, 2.5]},
        ...                             [1.6, 1.6, 2.5])
        (256, 256, 100)
    """
    shape, spacing = fingerprint["median_shape"], fingerprint["median_spacing"]
    if not pixdim:
        return tuple(int(s) for s in shape)
    return tuple(max(1, round(s * sp / p)) for s, sp, p in zip(shape, spacing, pixdim))


def plan_inference_estimate(plan: Mapping, fingerprint: Mapping) -> tuple[tuple[int, ...], InferenceEstimate]:
    """The network-grid size of a median case and the inferer's estimate for it, on this machine."""
    configs = bundle_path(plan["bundle"]) / "configs"
    parser = ConfigParser()
    parser.read_config(with_common_config([configs / "inference.json", configs / f"{plan['preset']}.json"]))
    parser.update({**plan["options"], "device": "$torch.device('cpu')", "progress": False})
    network = parser.get_parsed_content("network_def").eval()
    inferer = parser.get_parsed_content("inferer")
    size = median_case_on_network_grid(fingerprint, parser.get("pixdim"))
    channels = int(parser.get("in_channels", 1))
    return size, inferer.estimate((1, channels, *size), network)
