"""The applications built on the library, as MONAI keeps ``monai/apps``: the MONAI Label app (``label``), the
MONAI Deploy application (``deploy``) and the PACS side they share (``pacs``: DICOM objects, the DICOMweb
client, a local Orthanc and the OHIF viewer). Label and Deploy do not import each other."""
