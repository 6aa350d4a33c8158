# %% [markdown]
# # 3D CT organ segmentation from DICOM
#
# Load a DICOM CT series (HU from the stored values and the rescale intercept), look at the
# preprocessing (RAS, resampling, the abdominal HU window), train the 3D bundle, segment the
# series with overlap-tile inference, and export the masks as NIfTI and DICOM SEG.
#
# `python tutorials/02_ct_dicom_3d.py [--quick] [--output-dir DIR]`; figures are PNG files.

# %%
import argparse
import shutil
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
from monai.bundle import run as run_bundle
from monai.transforms import Compose, LoadImage

from monai_unet2015.bundle.figure import display_figure, overlay_figure
from monai_unet2015.bundle.locations import bundles_dir
from monai_unet2015.data import CT_LABELS, ct_preprocessing, has_highdicom, write_sample_data
from monai_unet2015.metrics import dice

parser = argparse.ArgumentParser()
parser.add_argument("--quick", action="store_true", help="two epochs only (CI)")
parser.add_argument("--output-dir", default="tutorial_output/02")
args, _ = parser.parse_known_args(sys.argv[1:] if "ipykernel" not in sys.modules else [])
out = Path(args.output_dir).resolve()
out.mkdir(parents=True, exist_ok=True)

# %% [markdown]
# ## The data: generated abdomen-like CT, two cases also as DICOM series

# %%
write_sample_data(out / "sample", num_ct=6, num_mri=0, num_cells=0)
series = out / "sample" / "ct_dicom" / "ct_005"
first = pydicom.dcmread(sorted(series.iterdir())[0])
print(
    f"{len(list(series.iterdir()))} slices, stored value {int(first.pixel_array[0, 0])}, "
    f"RescaleIntercept {first.RescaleIntercept}, RescaleSlope {first.RescaleSlope}"
)
volume = LoadImage(image_only=True)(str(series))
print("HU range", float(volume.min()), float(volume.max()), "spacing", volume.pixdim.tolist())

# %% [markdown]
# ## Preprocessing: RAS, 1.6 x 1.6 x 2.5 mm, window -160..240 HU to [0, 1]

# %%
preprocessed = Compose(ct_preprocessing(label_key=None, pixdim=(1.6, 1.6, 2.5)))({"image": str(series)})["image"]
print("preprocessed", tuple(preprocessed.shape), "value range", float(preprocessed.min()), float(preprocessed.max()))

# %% [markdown]
# ## Train the 3D bundle, then segment the DICOM series

# %%
bundle = bundles_dir() / "unet3d_ct_organs" / "configs"
files = {"meta_file": str(bundle / "metadata.json"), "logging_file": str(bundle / "logging.conf")}
shutil.rmtree(out / "bundle", ignore_errors=True)  # a bundle_root with checkpoints would resume training
# configs/common.json (what training and inference share) first, as for every run of the bundle
run_bundle(
    config_file=[str(bundle / "common.json"), str(bundle / "train.json")],
    bundle_root=str(out / "bundle"),
    dataset_dir=str(out / "sample" / "ct"),
    max_epochs=2 if args.quick else 150,
    val_interval=1 if args.quick else 25,
    progress=False,
    **files,
)
run_bundle(
    config_file=[str(bundle / "common.json"), str(bundle / "inference.json")],
    bundle_root=str(out / "bundle"),
    dataset_dir=str(out / "sample" / "ct_dicom"),
    output_dir=str(out / "masks"),
    progress=False,
    **files,
)
print("written:", sorted(p.name for p in (out / "masks").iterdir()), "(DICOM SEG needs highdicom:", has_highdicom, ")")

# %% [markdown]
# ## Slices with overlays: image | ground truth | prediction

# %%
truth = np.asarray(nib.load(out / "sample" / "ct_dicom_labels" / "ct_005.nii.gz").dataobj)
prediction = np.asarray(nib.load(out / "masks" / "ct_005_seg.nii.gz").dataobj)
image = np.asarray(volume)
rows = []
for z in np.linspace(0.3, 0.7, 3) * image.shape[2]:
    z = int(z)
    organs = {value: name for name, value in CT_LABELS.items() if value}
    rows.append((f"axial slice {z}", *(np.rot90(v[:, :, z]) for v in (image, truth, prediction)), organs))
display_figure(overlay_figure(rows, out / "slices.png"))
scores = {organ: round(dice(prediction, truth, value), 3) for organ, value in CT_LABELS.items() if value}
print("Dice on the DICOM test case:", scores)
if args.quick:
    print("(--quick trains 2 epochs: Dice near 0 is what that gives; the full run trains 150)")
print("figures in", out)
