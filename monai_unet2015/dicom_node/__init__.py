"""A DICOM node: receive series by C-STORE, segment them with a bundle, send the DICOM SEG on."""

from monai_unet2015.dicom_node.connections import ConnectionGuard
from monai_unet2015.dicom_node.gate import ApplicabilityGate, SeriesLook, series_look
from monai_unet2015.dicom_node.journal import SeriesJournal, SeriesRecord
from monai_unet2015.dicom_node.node import AllowedPeer, DicomNode, tls_server_context
from monai_unet2015.dicom_node.segmenter import BundleSegmenter
from monai_unet2015.dicom_node.sender import Destination, SendOutcome, StoreSender, send_file
from monai_unet2015.dicom_node.status import series_status, status_json, status_table

__all__ = [
    "DicomNode",
    "AllowedPeer",
    "ConnectionGuard",
    "ApplicabilityGate",
    "SeriesLook",
    "series_look",
    "tls_server_context",
    "SeriesJournal",
    "SeriesRecord",
    "BundleSegmenter",
    "Destination",
    "SendOutcome",
    "StoreSender",
    "send_file",
    "series_status",
    "status_table",
    "status_json",
]
