"""What a request to the MONAI Label server may carry: typed, allow-listed fields, nothing that runs.

MONAI Label copies request fields into a bundle's config (``device``) and into ``monai.bundle.run``
overrides (``max_epochs``, ``device``, tracking), where a string starting with ``$`` is evaluated as
Python, ``@`` and ``%`` are references; it takes an ``image`` that is an existing path as it is, and
joins ``label_tag`` and ``model_filename`` into paths. So each request is checked here before any task
sees it (:func:`check_infer_request`, :func:`check_train_request`): every field must be one this
project's tasks take, of its type and range (``device`` is ``cpu`` or ``cuda[:N]``; numbers and
booleans are parsed as such), image ids are datastore ids, label tags plain names, model files the
bundle's own; the checked request holds only the parsed values. Anything else is refused with a
:class:`RequestError` that names the field, the value and what is allowed.

Pure Python: the core environment tests it without MONAI Label installed.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from monai_ext.errors import CXRError

__all__ = [
    "DEVICE_PATTERN",
    "RequestError",
    "check_batch_request",
    "check_image_id",
    "check_infer_request",
    "check_label_tag",
    "check_task_request",
    "check_train_request",
]

#: the devices a request may name
DEVICE_PATTERN = re.compile(r"cpu|cuda(:[0-9]{1,2})?")
#: datastore image ids and label tags: plain names (MONAI Label's ids are file names without their suffix)
PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._ ()+=,-]{0,199}")
#: what an uploaded file's temporary path looks like (MONAI Label's endpoint names it with ``tempfile``)
_UPLOAD = re.compile(r"tmp[a-z0-9_]{8}(\.[A-Za-z0-9.]{1,16})?")
#: the prefixes MONAI's config parser acts on: an expression, a reference, a macro
CONFIG_PREFIXES = ("$", "@", "%")
#: the longest epoch count a request may ask for
MAX_EPOCHS = 1000


class RequestError(CXRError):
    """A request field this project's MONAI Label tasks do not take, or a value outside what it allows."""


def _refuse(name: str, value: Any, allowed: str) -> RequestError:
    shown = repr(value) if len(repr(value)) <= 120 else repr(value)[:117] + "..."
    return RequestError(f"request field {name!r} = {shown}: {allowed}")


def _device(name: str, value: Any) -> str:
    if not isinstance(value, str) or not DEVICE_PATTERN.fullmatch(value):
        raise _refuse(name, value, "must be 'cpu', 'cuda' or 'cuda:N'")
    return value


def _boolean(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.lower() in ("true", "1", "yes")
    raise _refuse(name, value, "must be true or false")


def _integer(low: int, high: int) -> Callable[[str, Any], int]:
    def parse(name: str, value: Any) -> int:
        if isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,9}", value):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise _refuse(name, value, f"must be an integer from {low} to {high}")
        return value

    return parse


def _number(low: float, high: float, also: tuple[float, ...] = ()) -> Callable[[str, Any], float]:
    def parse(name: str, value: Any) -> float:
        if isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,9}(\.[0-9]{1,9})?", value):
            value = float(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _refuse(name, value, f"must be a number from {low} to {high}")
        if not (low <= value <= high or value in also):
            extra = f" (or {', '.join(map(str, also))})" if also else ""
            raise _refuse(name, value, f"must be a number from {low} to {high}{extra}")
        return float(value)

    return parse


def _one_of(*options: Any) -> Callable[[str, Any], Any]:
    def parse(name: str, value: Any) -> Any:
        if isinstance(value, list) and value:  # MONAI Label's clients send a chosen option as a list's first item
            value = value[0]
        if value not in options:
            raise _refuse(name, value, f"must be one of {list(options)}")
        return value

    return parse


def _plain(name: str, value: Any) -> str:
    if not isinstance(value, str) or not PLAIN_NAME.fullmatch(value) or ".." in value:
        raise _refuse(name, value, "must be a plain name (letters, digits, '._ ()+=,-'; no path)")
    return value


def _gpus(name: str, value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"all|[0-9]{1,2}(,[0-9]{1,2}){0,15}", value):
        raise _refuse(name, value, "must be 'all' or GPU indices such as '0,1'")
    return value


def check_label_tag(tag: Any, name: str = "label_tag") -> str:
    """A label tag as a plain folder name under the datastore's ``labels/`` (``final``, ``original``)."""
    return _plain(name, tag)


def check_image_id(image: Any, known: Callable[[str], bool], name: str = "image") -> str:
    """An image a request names: an id the datastore knows (``known(id)``), or the temporary file MONAI
    Label's endpoint saved an uploaded image to. An absolute path, a path with ``..`` or a separator,
    and an id the datastore does not hold are refused."""
    if isinstance(image, str) and os.path.isabs(image):
        path = Path(image)
        upload = path.parent == Path(tempfile.gettempdir()) and _UPLOAD.fullmatch(path.name)
        if upload and path.is_file() and not path.is_symlink():
            return image
        raise _refuse(name, image, "must be an image id of the datastore, not a path on the server")
    if not isinstance(image, str) or "/" in image or "\\" in image or ".." in image or not image:
        raise _refuse(name, image, "must be an image id of the datastore (a name, not a path)")
    if not known(image):
        raise _refuse(name, image, "is not an image of the datastore")
    return image


def _no_config_syntax(name: str, value: Any) -> None:
    """Refuse a string anywhere in ``value`` that MONAI's config parser would act on."""
    if isinstance(value, str) and value.lstrip().startswith(CONFIG_PREFIXES):
        raise _refuse(name, value, f"must not start with {' '.join(CONFIG_PREFIXES)} (config syntax is not taken)")
    if isinstance(value, Mapping):
        for key, inner in value.items():
            _no_config_syntax(f"{name}.{key}", inner)
    elif isinstance(value, (list, tuple)):
        for inner in value:
            _no_config_syntax(name, inner)


def _check(request: Mapping[str, Any], fields: Mapping[str, Callable[[str, Any], Any]], what: str) -> dict[str, Any]:
    unknown = sorted(set(request) - set(fields))
    if unknown:
        raise RequestError(f"{what} request fields {unknown} are not taken by this server (allowed: {sorted(fields)})")
    checked = {}
    for name, value in request.items():
        _no_config_syntax(name, value)
        if value is None:  # an option left unset by a client
            continue
        checked[name] = fields[name](name, value)
    return checked


#: MONAI Label's own bookkeeping fields, which its endpoints and clients add to a request
_COMMON: dict[str, Callable[[str, Any], Any]] = {
    "model": _plain,
    "device": _device,
    "client_id": _plain,
    "logging": _one_of("DEBUG", "INFO", "WARNING", "ERROR", "debug", "info", "warning", "error"),
}


def _result_fields(model_files: Iterable[str]) -> dict[str, Callable[[str, Any], Any]]:
    """The fields of an inference request besides its image: what to save and return, and how."""
    return {
        **_COMMON,
        "save_label": _boolean,
        "label_tag": lambda n, v: check_label_tag(v, n),
        "saliency": _boolean,
        "gate": _boolean,
        "result_extension": _one_of(".png", ".nii.gz", ".nii", ".nrrd"),
        "result_dtype": _one_of("uint8", "uint16"),
        "result_compress": _boolean,
        "skip_writer": _boolean,
        "model_filename": _one_of(*model_files),
    }


def check_infer_request(
    request: Mapping[str, Any], known_image: Callable[[str], bool], model_files: Iterable[str] = ()
) -> dict[str, Any]:
    """The inference request as this project's tasks take it (see the module's docs).

    Args:
        request: the request as MONAI Label's endpoint made it (query, form fields, ``params``).
        known_image: whether the datastore holds an image id.
        model_files: the weights files a request may choose (the bundle's ``models/*.pt`` names).
    """
    fields = {**_result_fields(model_files), "image": lambda n, v: check_image_id(v, known_image, n)}
    return _check(request, fields, "inference")


def check_task_request(request: Mapping[str, Any], model_files: Iterable[str] = ()) -> dict[str, Any]:
    """The inference request as one of this project's tasks takes it, whoever calls the task: this project's
    app (after :func:`check_infer_request`), another MONAI Label app that registers the task, or a script.
    By then the image is a file on this server (an app resolves the datastore's id to its file) and MONAI
    Label has added the task's ``description``; every other field is an inference request's, checked the
    same way, so no entry point depends on another layer's check.

    Args:
        request: the request the task is called with.
        model_files: the weights files a request may choose (the bundle's ``models/*.pt`` names).
    """

    def image(name: str, value: Any) -> str:
        if not isinstance(value, str) or not Path(value).is_file():
            raise _refuse(name, value, "must be an image file on this server (an app resolves datastore ids)")
        return value

    def text(name: str, value: Any) -> str:
        if not isinstance(value, str):
            raise _refuse(name, value, "must be a string")
        return value

    fields = {**_result_fields(model_files), "image": image, "description": text}
    return _check(request, fields, "inference task")


def check_batch_request(request: Mapping[str, Any], model_files: Iterable[str] = ()) -> dict[str, Any]:
    """A batch inference request: which of the datastore's images (``all``, ``labeled``, ``unlabeled``, or
    a list of image ids, each then checked as one request's), how many at most, on which devices, and
    the fields of one inference request."""

    def images(name: str, value: Any) -> Any:
        if isinstance(value, list):
            return [_plain(name, v) for v in value]
        return _one_of("all", "labeled", "unlabeled")(name, value)

    fields = {
        **_result_fields(model_files),
        "images": images,
        "labels": lambda n, v: [_plain(n, x) for x in v] if isinstance(v, list) else _plain(n, v),
        "max_batch_size": _integer(0, 100000),
        "max_workers": _integer(0, 64),
        "multi_gpu": _boolean,
        "gpus": _gpus,
    }
    return _check(request, fields, "batch inference")


def check_train_request(
    request: Mapping[str, Any], bundle_path: str | os.PathLike | None = None, model_files: Iterable[str] = ()
) -> dict[str, Any]:
    """The training request as this project's train task takes it (see the module's docs).

    Args:
        request: the request as MONAI Label's endpoint and task runner made it.
        bundle_path: the bundle the task trains (a request's ``bundle_path`` must be it).
        model_files: the weights files a request may start from (the bundle's ``models/*.pt`` names).
    """
    bundle = str(Path(bundle_path).resolve()) if bundle_path else None

    def same_bundle(name: str, value: Any) -> str:
        if bundle is None or not isinstance(value, str) or str(Path(value).resolve()) != bundle:
            raise _refuse(name, value, f"must be the bundle this task trains ({bundle})")
        return value

    fields = {
        **_COMMON,
        "bundle_path": same_bundle,
        "local_rank": _integer(0, 64),
        "max_epochs": _integer(1, MAX_EPOCHS),
        "val_split": _number(0.0, 0.9, also=(-1.0,)),
        "pretrained": _boolean,
        "multi_gpu": _boolean,
        "force_multi_gpu": _boolean,
        "gpus": _gpus,
        "run_id": _one_of("", "run", "training"),
        "model_filename": _one_of(*model_files),
        "tracking": _one_of("", "none", "None"),
        "tracking_uri": _one_of(""),
        "tracking_experiment_name": lambda n, v: "" if v == "" else _plain(n, v),
        "tracking_run_name": lambda n, v: "" if v == "" else _plain(n, v),
    }
    checked = _check(request, fields, "training")
    # an empty option means "the default": MONAI Label's task would pass it on as it is (an empty run id)
    return {name: value for name, value in checked.items() if value != ""}
