"""MONAI Deploy App SDK application: chest radiographs in a DICOM folder -> lung masks and COVID-19
probabilities (``app.py``; operators in ``operators.py``, the radiograph finder in ``finder.py``, the DICOM SEG, SR and
secondary capture writers in :mod:`monai_ext.apps.pacs.objects`; ``python -m monai_ext.apps.deploy.demo``), and the
same from and to a PACS (``pacs.py``: retrieve a study by DICOMweb, run, store the outputs back).

Needs the ``.venv-deploy`` environment (``make deploy-demo``); the core package never imports it.
"""
