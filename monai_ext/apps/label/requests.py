"""What a request to the MONAI Label server may carry: typed, allow-listed fields, nothing that runs.

MONAI Label copies request fields into a bundle's config (``device``) and into ``monai.bundle.run``
overrides (``max_epochs``, ``device``, tracking), where a string starting with ``$`` is evaluated as
Python, ``@`` and ``%`` are references; it takes an ``image`` that is an existing path as it is, and
joins ``label_tag`` and ``model_filename`` into paths. So each request is checked here before any task
sees it (:func:`check_infer_request`, :func:`check_train_request`): every field must be one this
project's tasks take, of its type and range (``device`` is ``cpu`` or ``cuda[:N]``; numbers and
booleans are parsed as such), image ids are datastore ids, label tags plain names, model files the
bundle's own; the checked request holds only the parsed values. Each kind of request is a JSON Schema
(``additionalProperties: false``) whose problems are put in words by the same translator as a model
folder's (:func:`monai_ext.utils.schema_problems`); what needs the server's state (the datastore's ids, a
file, the bundle a task trains) is checked after it. Anything else is refused with a :class:`RequestError`
that names every field at fault, its value and what is allowed.

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
from monai_ext.utils import schema_problems

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
    return RequestError(f"request field {name!r} = {_shown(value)}: {allowed}")


# The fields' JSON Schemas (draft 7): types, patterns, ranges and options, each with its ``allowed`` words
# (:func:`monai_ext.utils.schema_problems` reports them); what needs the server's state (an image id the
# datastore holds, a file on disk, the bundle a task trains) is checked by a function after.
DEVICE = {"type": "string", "pattern": f"^({DEVICE_PATTERN.pattern})$", "allowed": "must be 'cpu', 'cuda' or 'cuda:N'"}
BOOLEAN = {"type": "boolean", "allowed": "must be true or false"}
PLAIN = {
    "type": "string",
    "pattern": f"^{PLAIN_NAME.pattern}$",
    "not": {"pattern": "\\.\\."},
    "allowed": "must be a plain name (letters, digits, '._ ()+=,-'; no path)",
}
GPUS = {
    "type": "string",
    "pattern": "^(all|[0-9]{1,2}(,[0-9]{1,2}){0,15})$",
    "allowed": "must be 'all' or GPU indices such as '0,1'",
}
TEXT = {"type": "string", "allowed": "must be a string"}
ANY = {}  #: checked by a function after the schema (image ids, files, the bundle)


def integer(low: int, high: int) -> dict[str, Any]:
    return {"type": "integer", "minimum": low, "maximum": high, "allowed": f"must be an integer from {low} to {high}"}


def number(low: float, high: float, also: tuple[float, ...] = ()) -> dict[str, Any]:
    extra = f" (or {', '.join(map(str, also))})" if also else ""
    return {
        "anyOf": [{"type": "number", "minimum": low, "maximum": high}, {"enum": list(also)}],
        "allowed": f"must be a number from {low} to {high}{extra}",
    }


def one_of(*options: Any) -> dict[str, Any]:
    return {"enum": list(options)}


def _request_schema(properties: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """A request's schema: only these fields (``additionalProperties: false``), each as its schema says."""
    return {
        "type": "object",
        "properties": dict(properties),
        "additionalProperties": False,
        "allowed": "is not taken by this server",
    }


def _parsed(schema: Mapping[str, Any], value: Any) -> Any:
    """``value`` as the field's schema types it: a form's ``"3"``, ``"0.5"`` or ``"true"`` parsed as a
    number or boolean; an option sent as a list (MONAI Label's clients do) taken as its first item."""
    kind = schema.get("type") or ("number" if any(s.get("type") == "number" for s in schema.get("anyOf", [])) else None)
    if isinstance(value, str):
        if kind == "integer" and re.fullmatch(r"-?[0-9]{1,9}", value):
            return int(value)
        if kind == "number" and re.fullmatch(r"-?[0-9]{1,9}(\.[0-9]{1,9})?", value):
            return float(value)
        if kind == "boolean" and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
    if "enum" in schema and isinstance(value, list) and value:
        return value[0]
    if kind == "number" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def check_label_tag(tag: Any, name: str = "label_tag") -> str:
    """A label tag as a plain folder name under the datastore's ``labels/`` (``final``, ``original``)."""
    _check({name: tag}, {name: PLAIN}, "label")
    return tag


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


def _check(
    request: Mapping[str, Any],
    fields: Mapping[str, Mapping[str, Any]],
    what: str,
    after: Mapping[str, Callable[[str, Any], Any]] | None = None,
) -> dict[str, Any]:
    """``request`` checked against the schema of ``fields`` (every problem reported, each naming its field),
    its values parsed; then ``after``'s functions for the fields that need the server's state."""
    for name, value in request.items():
        _no_config_syntax(name, value)
    given = {name: value for name, value in request.items() if value is not None}  # None: an option left unset
    checked = {name: _parsed(fields.get(name, {}), value) for name, value in given.items()}
    problems = schema_problems(_request_schema(fields), checked)
    if problems:
        raise RequestError(
            f"{what} request: "
            + "; ".join(
                f"request field {field!r}" + ("" if shown is None else f" = {_shown(shown)}") + f": {allowed}"
                for field, shown, allowed in problems
            )
        )
    for name, check in (after or {}).items():
        if name in checked:
            checked[name] = check(name, checked[name])
    return checked


def _shown(value: Any) -> str:
    return repr(value) if len(repr(value)) <= 120 else repr(value)[:117] + "..."


#: MONAI Label's own bookkeeping fields, which its endpoints and clients add to a request
_COMMON: dict[str, dict[str, Any]] = {
    "model": PLAIN,
    "device": DEVICE,
    "client_id": PLAIN,
    "logging": one_of("DEBUG", "INFO", "WARNING", "ERROR", "debug", "info", "warning", "error"),
}


def _result_fields(model_files: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The fields of an inference request besides its image: what to save and return, and how."""
    return {
        **_COMMON,
        "save_label": BOOLEAN,
        "label_tag": PLAIN,
        "saliency": BOOLEAN,
        "gate": BOOLEAN,
        "result_extension": one_of(".png", ".nii.gz", ".nii", ".nrrd"),
        "result_dtype": one_of("uint8", "uint16"),
        "result_compress": BOOLEAN,
        "skip_writer": BOOLEAN,
        "model_filename": one_of(*model_files),
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
    fields = {**_result_fields(model_files), "image": ANY}
    return _check(request, fields, "inference", {"image": lambda n, v: check_image_id(v, known_image, n)})


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

    fields = {**_result_fields(model_files), "image": ANY, "description": TEXT}
    return _check(request, fields, "inference task", {"image": image})


def check_batch_request(request: Mapping[str, Any], model_files: Iterable[str] = ()) -> dict[str, Any]:
    """A batch inference request: which of the datastore's images (``all``, ``labeled``, ``unlabeled``, or
    a list of image ids, each a plain name), how many at most, on which devices, and the fields of one
    inference request."""
    fields = {
        **_result_fields(model_files),
        "images": {
            "anyOf": [{"type": "array", "items": PLAIN}, {"enum": ["all", "labeled", "unlabeled"]}],
            "allowed": "must be 'all', 'labeled', 'unlabeled' or a list of image ids (plain names)",
        },
        "labels": {"anyOf": [{"type": "array", "items": PLAIN}, PLAIN], "allowed": PLAIN["allowed"]},
        "max_batch_size": integer(0, 100000),
        "max_workers": integer(0, 64),
        "multi_gpu": BOOLEAN,
        "gpus": GPUS,
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

    empty_or_plain = {"anyOf": [{"const": ""}, PLAIN], "allowed": PLAIN["allowed"]}
    fields = {
        **_COMMON,
        "bundle_path": ANY,
        "local_rank": integer(0, 64),
        "max_epochs": integer(1, MAX_EPOCHS),
        "val_split": number(0.0, 0.9, also=(-1.0,)),
        "pretrained": BOOLEAN,
        "multi_gpu": BOOLEAN,
        "force_multi_gpu": BOOLEAN,
        "gpus": GPUS,
        "run_id": one_of("", "run", "training"),
        "model_filename": one_of(*model_files),
        "tracking": one_of("", "none", "None"),
        "tracking_uri": one_of(""),
        "tracking_experiment_name": empty_or_plain,
        "tracking_run_name": empty_or_plain,
    }
    checked = _check(request, fields, "training", {"bundle_path": same_bundle})
    # an empty option means "the default": MONAI Label's task would pass it on as it is (an empty run id)
    return {name: value for name, value in checked.items() if value != ""}
