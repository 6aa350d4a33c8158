"""MONAI Label app folder: ``monailabel start_server --app apps/monai_unet2015 --studies DIR``.

MONAI Label looks in this file for a subclass of ``MONAILabelApp``; the app itself lives in the
package (``monai_unet2015.label``). Settings: ``--conf models unet3d_ct_organs`` (default: all
bundles), ``--conf model_dir DIR`` (default: ``model/`` here), ``--conf bundles_dir DIR``.
"""

from monai_unet2015.label import UNet2015LabelApp

__all__ = ["UNet2015LabelApp"]
