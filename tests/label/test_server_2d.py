"""The 2D cells bundle behind a real MONAI Label server: a PNG mask on the image's grid.

Weights: the bundle's network with seeded random initialisation, copied into the app's
working bundle while the server runs. What is checked is the plumbing (2D loading, the
overlap-tile inference, the PNG the server writes), against the bundle's own inference with
the same weights; the 2D bundle's learning is tested in tests/bundles and tests/engines.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from monai.bundle import ConfigParser
from PIL import Image

from monai_unet2015.bundle.locations import with_common_config
from monai_unet2015.data import write_sample_data
from monai_unet2015.label import studies_from_msd
from tests.label.server import LabelServer, bundle_inference, label_environment_problem

MODEL = "unet2015_cells_2d"
_PROBLEM = label_environment_problem()

pytestmark = [pytest.mark.slow, pytest.mark.skipif(_PROBLEM is not None, reason=str(_PROBLEM))]


@pytest.fixture(scope="module")
def studies(tmp_path_factory) -> Path:
    sample = tmp_path_factory.mktemp("cells_sample")
    write_sample_data(sample, num_ct=0, num_mri=0, num_cells=3, cells_shape=(200, 232))
    return studies_from_msd(sample / "cells", tmp_path_factory.mktemp("cells_studies"), with_labels=False)


@pytest.fixture(scope="module")
def server(studies, tmp_path_factory):
    server = LabelServer.start(studies, tmp_path_factory.mktemp("cells_server"), models=MODEL)
    yield server
    server.stop()


def write_random_weights(bundle: Path) -> Path:
    """Seeded random weights; the batch-norm statistics taken from one random tile (momentum 1).

    With its initial statistics (mean 0, variance 1) each norm layer is the identity, and the
    random net's output is nearly constant once the default test-time flips average it.
    """
    parser = ConfigParser()
    parser.read_config(with_common_config(bundle / "configs" / "inference.json"))
    torch.manual_seed(0)
    network = parser.get_parsed_content("network_def")
    norms = [m for m in network.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for norm in norms:
        norm.momentum = 1.0
    with torch.no_grad():
        network.train()(torch.rand(1, 1, *network.input_size(20)))
    for norm in norms:
        norm.momentum = 0.1
    weights = bundle / "models" / "model.pt"
    torch.save(network.eval().state_dict(), weights)
    return weights


def test_2d_mask_is_a_png_on_the_image_grid_equal_to_the_bundle_inference(server, studies, tmp_path):
    weights = write_random_weights(server.model_dir / MODEL)
    assert server.get("/info/").json()["models"][MODEL]["dimension"] == 2

    answer = server.post(f"/infer/{MODEL}?image=cells_002&output=image")
    assert answer.status == 200, server.log_tail()
    (tmp_path / "served.png").write_bytes(answer.body)
    served = np.asarray(Image.open(tmp_path / "served.png"))
    image = np.asarray(Image.open(studies / "cells_002.png"))

    assert served.shape == image.shape[:2] == (200, 232)
    assert set(np.unique(served)) <= {0, 1}
    assert 0 < np.count_nonzero(served) < served.size, "a constant mask would not show the alignment"
    offline = np.asarray(
        Image.open(bundle_inference(server.model_dir / MODEL, weights, studies / "cells_002.png", tmp_path / "offline"))
    )
    np.testing.assert_array_equal(served > 0, offline > 0)
