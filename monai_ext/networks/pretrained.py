"""The ``pretrained`` switch the networks share, and the check that its weights can be had.

``pretrained=True`` without the weights in the local cache and without network access would otherwise
fail deep inside a download, after the data have been cached (minutes on a real dataset), with a bare
``URLError`` traceback. :func:`require_pretrained` answers at once, naming the file the cache needs
(and where) or ``--pretrained False``; the bundles call it first in ``initialize`` and the networks
call it before they build.
"""

from __future__ import annotations

import socket
from pathlib import Path
from urllib.parse import urlparse

import torch
import torchvision

from monai_ext.errors import CXRError, SettingError
from monai_ext.networks.backbones import BACKBONES

__all__ = ["PretrainedWeightsError", "check_pretrained", "pretrained_source", "require_pretrained"]

#: seconds to wait for a connection to the weights' host before calling it unreachable
CONNECT_TIMEOUT_S = 5.0
#: the lung segmenter's encoder: segmentation_models_pytorch's DenseNet121 ImageNet weights (Hugging Face hub)
SEGMENTER = "fpn_densenet121"


class PretrainedWeightsError(CXRError, RuntimeError):
    """``pretrained=True``, and the weights are neither cached nor downloadable."""


def check_pretrained(pretrained: object) -> bool:
    """Return ``pretrained`` when it is a bool; refuse anything else (``--pretrained false`` on the command
    line arrives as a non-empty, truthy string)."""
    if not isinstance(pretrained, bool):
        raise SettingError(
            f"pretrained must be True or False, got {pretrained!r} (on the command line: --pretrained True)"
        )
    return pretrained


def pretrained_source(network: str) -> tuple[Path, str]:
    """``(file the library's cache needs, URL it downloads from)`` of the ImageNet weights of ``network``:
    a classifier backbone (:data:`~monai_ext.networks.backbones.BACKBONES`, torchvision's torch hub cache) or
    :data:`SEGMENTER` (segmentation_models_pytorch's encoder, the Hugging Face hub cache)."""
    if network == SEGMENTER:
        from huggingface_hub import constants, hf_hub_url, try_to_load_from_cache
        from segmentation_models_pytorch.encoders import encoders

        settings = encoders["densenet121"]["pretrained_settings"]["imagenet"]
        repo, revision = settings["repo_id"], settings["revision"]
        cached = try_to_load_from_cache(repo, "model.safetensors", revision=revision)
        folder = Path(constants.HF_HUB_CACHE) / f"models--{repo.replace('/', '--')}" / "snapshots" / revision
        path = Path(cached) if isinstance(cached, str) else folder / "model.safetensors"
        return path, hf_hub_url(repo, "model.safetensors", revision=revision)
    if network not in BACKBONES:
        raise ValueError(f"no pretrained weights known for {network!r}: one of {[*BACKBONES, SEGMENTER]}")
    url = getattr(torchvision.models, BACKBONES[network].weights).IMAGENET1K_V1.url
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(url).path).name, url


def require_pretrained(pretrained: object, network: str) -> bool:
    """Return ``pretrained`` (a bool, see :func:`check_pretrained`); when True, raise
    :class:`PretrainedWeightsError` at once unless the weights of ``network`` are in the cache or their
    host answers within :data:`CONNECT_TIMEOUT_S`."""
    if not check_pretrained(pretrained):
        return False
    path, url = pretrained_source(network)
    if path.is_file():
        return True
    host = urlparse(url).hostname
    try:
        socket.create_connection((host, 443), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as e:
        raise PretrainedWeightsError(
            f"pretrained=True needs the ImageNet weights of {network}: {path} is not there and {host} cannot be "
            f"reached ({e}). Download {url} on a machine with internet access and put it at {path}"
            f"{' (with config.json from the same hub folder beside it)' if network == SEGMENTER else ''}, "
            "or pass --pretrained False"
        ) from None
    return True
