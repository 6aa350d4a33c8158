"""CT / MRI / microscopy data: datalists (DICOM labels too), presets, the device data path, outputs, sample data."""

from monai_unet2015.data.bundle_configs import declared_transforms
from monai_unet2015.data.datalists import (
    add_output_names,
    json_datalist,
    msd_datalist,
    nifti_folder_datalist,
)
from monai_unet2015.data.dataset_folder import load_datalist, release_series_links, split_datalist
from monai_unet2015.data.dicom_geometry import SeriesGrid, series_grid
from monai_unet2015.data.dicom_labels import dicom_case_datalist, dicom_label_map
from monai_unet2015.data.dicom_reader import DicomSeries, dicom_series_datalist, find_dicom_series
from monai_unet2015.data.dicom_writer import write_dicom_series
from monai_unet2015.data.label_names import ClassNameMap
from monai_unet2015.data.loaders import RaisingThreadDataLoader, device_data_loader, memory_cache_rate
from monai_unet2015.data.outputs import (
    SaveDicomSegd,
    SaveMaskd,
    atomic_output,
    has_highdicom,
    inference_postprocessing,
    read_series,
    write_dicom_seg,
)
from monai_unet2015.data.overlay_writer import SaveOverlayd, write_overlay_series
from monai_unet2015.data.presets import (
    ABDOMEN_WINDOW,
    MICROSCOPY_PERCENTILES,
    ct_intensity_transforms,
    ct_preprocessing,
    dicom_modality,
    microscopy_preprocessing,
    modality_preprocessing,
    mri_intensity_transforms,
    mri_preprocessing,
    normalize_modality,
)
from monai_unet2015.data.rtstruct_writer import SaveRtStructd, write_rtstruct
from monai_unet2015.data.sample_data import write_sample_data
from monai_unet2015.data.sr_writer import SaveVolumeReportd, write_volume_report
from monai_unet2015.data.structure_report import SaveStructureReportd, structure_measurements
from monai_unet2015.data.synthetic_cells import touching_cells_2d
from monai_unet2015.data.synthetic_volumes import CT_LABELS, MRI_LABELS, ct_like_volume, mri_like_volume

__all__ = [
    "load_datalist",
    "release_series_links",
    "split_datalist",
    "json_datalist",
    "msd_datalist",
    "nifti_folder_datalist",
    "dicom_series_datalist",
    "find_dicom_series",
    "DicomSeries",
    "SeriesGrid",
    "series_grid",
    "dicom_case_datalist",
    "dicom_label_map",
    "ClassNameMap",
    "add_output_names",
    "normalize_modality",
    "dicom_modality",
    "ABDOMEN_WINDOW",
    "declared_transforms",
    "microscopy_preprocessing",
    "MICROSCOPY_PERCENTILES",
    "ct_intensity_transforms",
    "mri_intensity_transforms",
    "ct_preprocessing",
    "mri_preprocessing",
    "modality_preprocessing",
    "device_data_loader",
    "memory_cache_rate",
    "RaisingThreadDataLoader",
    "inference_postprocessing",
    "write_dicom_seg",
    "write_rtstruct",
    "SaveRtStructd",
    "SaveOverlayd",
    "SaveVolumeReportd",
    "write_volume_report",
    "write_overlay_series",
    "SaveStructureReportd",
    "structure_measurements",
    "read_series",
    "SaveDicomSegd",
    "SaveMaskd",
    "atomic_output",
    "has_highdicom",
    "write_dicom_series",
    "write_sample_data",
    "touching_cells_2d",
    "ct_like_volume",
    "mri_like_volume",
    "CT_LABELS",
    "MRI_LABELS",
]
