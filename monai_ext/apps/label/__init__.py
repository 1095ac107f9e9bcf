"""MONAI Label integration: inference tasks for both bundles and a MONAI Label app (``app/main.py``).

Needs the ``.venv-label`` environment (``make label``); nothing here is imported by the core package.
"""

#: the image files a studies folder holds, unless MONAI_LABEL_DATASTORE_FILE_EXT says otherwise
IMAGE_PATTERNS = ["*.png", "*.jpg", "*.jpeg", "*.dcm"]
