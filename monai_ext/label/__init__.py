"""MONAI Label integration: inference tasks for both bundles and a MONAI Label app (``app/main.py``).

Needs the ``.venv-label`` environment (``make label``); nothing here is imported by the core package.
"""
