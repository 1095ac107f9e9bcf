"""MONAI Deploy App SDK application: chest radiographs in a DICOM folder -> lung masks and COVID-19
probabilities (``app.py``; operators in ``operators.py``, the radiograph finder in ``finder.py``, DICOM SEG and SR
writers in ``dicom_outputs.py``; ``python -m monai_ext.deploy.demo``).

Needs the ``.venv-deploy`` environment (``make deploy-demo``); the core package never imports it.
"""
