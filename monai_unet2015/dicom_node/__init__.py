"""A DICOM node: receive series by C-STORE, segment them with a bundle, send the DICOM SEG on."""

from monai_unet2015.dicom_node.journal import SeriesJournal, SeriesRecord
from monai_unet2015.dicom_node.node import DicomNode
from monai_unet2015.dicom_node.segmenter import BundleSegmenter
from monai_unet2015.dicom_node.sender import Destination, send_file

__all__ = ["DicomNode", "SeriesJournal", "SeriesRecord", "BundleSegmenter", "Destination", "send_file"]
