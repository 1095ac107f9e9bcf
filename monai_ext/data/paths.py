"""Path rules every reader and writer applies: inputs stay inside their root, no output lands on an input,
no two inputs share an output name."""

from __future__ import annotations

import errno
import os
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path

from monai_ext.data.image_writer import mask_name_for
from monai_ext.errors import CXRError, DataListError

__all__ = [
    "OutputCollisionError",
    "link_problem",
    "number_apart",
    "output_names",
    "refuse_output_dir_on_input_dir",
    "refuse_outputs_over_inputs",
    "resolve_inside",
]


class OutputCollisionError(CXRError):
    """A batch job would write an output over one of its inputs."""


def link_problem(path: str | os.PathLike, root: str | os.PathLike | None = None) -> str | None:
    """Why a symbolic link is not an input: it loops, dangles, or (with ``root``) points outside ``root``; else None."""
    path = Path(path)
    try:
        target = path.resolve(strict=True)
    except RuntimeError:  # Python < 3.13 reports a link loop so
        return "symbolic link loop"
    except OSError as e:
        return "symbolic link loop" if e.errno == errno.ELOOP else f"dangling symbolic link (to {os.readlink(path)})"
    if root is not None and not target.is_relative_to(Path(root).resolve()):
        return f"symbolic link to {target}, outside the dataset folder {root}"
    return None


def resolve_inside(root: str | os.PathLike, relative: str, what: str = "image") -> Path:
    """The absolute path of ``relative`` under ``root``, with symbolic links resolved.

    The one rule for data lists and folder scans alike: an absolute path, a path with ``..`` that
    leaves ``root``, and a symbolic link inside ``root`` that points outside it are all refused.

    Raises:
        DataListError: the path leaves ``root`` (the message names both).
    """
    root = Path(root)
    if os.path.isabs(relative):
        raise DataListError(f"{what} path {relative!r} is absolute: data-list paths are relative to their root {root}")
    path = (root / relative).resolve()
    if not path.is_relative_to(root.resolve()):
        how = "links to" if (root / relative).is_symlink() else "resolves to"
        raise DataListError(f"{what} path {relative!r} leaves its root {root} (it {how} {path})")
    return path


def output_names(names: Iterable[str], name_for=mask_name_for) -> dict[str, str]:
    """The output file name of each input name (relative paths), unique across the batch.

    Each input keeps the simple name ``name_for`` gives it (``x.dcm`` -> ``x.png``) unless another
    input of the batch would get the same one: then every input of that clash is named after its
    whole file name (``x.dcm`` -> ``x.dcm.png``, ``x.jpg`` -> ``x.jpg.png``, ``x.png`` -> ``x.png.png``).
    A name still taken after that gets ``~2``, ``~3`` ... before its suffix. Deterministic: it depends
    only on the set of names.
    """
    names = sorted(set(names))
    simple = {n: name_for(n) for n in names}
    clashes: dict[str, list[str]] = defaultdict(list)
    for n, out in simple.items():
        clashes[out].append(n)
    result: dict[str, str] = {}
    taken: set[str] = set()
    for n in names:
        out = number_apart(simple[n] if len(clashes[simple[n]]) == 1 else n + Path(simple[n]).suffix, taken)
        taken.add(out)
        result[n] = out
    return result


def number_apart(name: str, taken: set[str]) -> str:
    """``name``, or when it is taken the first free ``stem~2.suffix``, ``stem~3.suffix`` ..."""
    if name not in taken:
        return name
    stem, suffix = os.path.splitext(name)
    return next(f"{stem}~{i}{suffix}" for i in range(2, len(taken) + 3) if f"{stem}~{i}{suffix}" not in taken)


def refuse_output_dir_on_input_dir(output_dir: str | os.PathLike, input_dir: str | os.PathLike | None) -> None:
    """Refuse an output folder that is the input folder itself (a subfolder is fine: it is never read as input).

    Raises:
        OutputCollisionError: naming both folders.
    """
    if input_dir is not None and Path(output_dir).resolve() == Path(input_dir).resolve():
        raise OutputCollisionError(
            f"output_dir {output_dir} is the input folder dataset_dir {input_dir}: its outputs would replace or mix "
            "with the inputs; choose another output_dir (a subfolder is fine: it is never read as input)"
        )


def refuse_outputs_over_inputs(
    output_dir: str | os.PathLike,
    outputs: Mapping[str, str],
    inputs: Iterable[str | os.PathLike],
    input_dir: str | os.PathLike,
) -> None:
    """Refuse, before anything is written, a batch whose output folder is its input folder, or any of
    whose outputs (``output_dir / outputs[name]``) is one of its ``inputs``.

    Raises:
        OutputCollisionError: naming the two folders and the first outputs that would replace inputs.
    """
    refuse_output_dir_on_input_dir(output_dir, input_dir)
    out_dir = Path(output_dir).resolve()
    resolved_inputs = {Path(p).resolve() for p in inputs}
    over = [out for out in outputs.values() if (out_dir / out).resolve() in resolved_inputs]
    if over:
        raise OutputCollisionError(
            f"output_dir {output_dir} would overwrite {len(over)} input(s) of dataset_dir {input_dir} "
            f"(first: {over[:3]}); choose another output_dir"
        )
