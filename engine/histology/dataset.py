"""Histopathology image collections: the BreakHis layout, a generic folder layout, or a CSV.

BreakHis (Spanhol et al., IEEE TBME 2016) is laid out as::

    .../{benign|malignant}/SOB/<subtype folder>/SOB_<B|M>_<T>_<YY>-<ID>/<40X|100X|200X|400X>/<file>.png

with file names ``<BIOPSY>_<CLASS>_<TYPE>-<YY>-<ID>-<MAG>-<SEQ>.png`` (e.g. ``SOB_B_A-14-22549AB-40-001.png``):
class B (benign) or M (malignant), tumour type (A, F, PT, TA; DC, LC, MC, PC), year, slide id (an accession
number plus optional section letters), magnification and a sequence number. The file name alone carries every
label, so files are found anywhere under the folder the user names; a name that disagrees with its folders is
listed as a problem and left out, never fatal. Images of 700x460 and 700x456 pixels (and any other size) are
accepted: they are resized when loaded.

Identity (what must never be split across training and test):

- *patient*: the slide folder, e.g. ``SOB_M_DC_14-13412`` (section letters included, as the reference code);
- *accession group*: the numeric part of the slide id. Sibling sections (``22549AB``/``22549CD``/``22549G``) and
  the ``13412`` slide that appears twice, as ductal and as lobular carcinoma with the same images, each fall in
  one group, so splitting by group is leak-free (:mod:`engine.histology.splits`);
- *MPCS key*: patient plus sequence number; the same key at two magnifications is a positive pair.

Other datasets: ``<class>/<patient>/<magnification>/<image>`` folders (the magnification folder may be
``40X``, ``40x`` or ``40``; the key is the file stem, less a ``_<magnification>`` ending), or a CSV with
columns ``path,label,patient,magnification`` (optional ``group``, ``subtype``, ``key``; paths relative to
the CSV's folder or absolute).
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from PIL import Image, UnidentifiedImageError

from engine.errors import InputError
from engine.images import IMAGE_SUFFIXES

MAGNIFICATIONS = ("40X", "100X", "200X", "400X")
CLASSES = ("benign", "malignant")
Layout = Literal["breakhis", "folders", "csv"]


@dataclass(frozen=True)
class Subtype:
    """A BreakHis tumour type: its file-name code, folder name and class."""

    code: str
    folder: str
    label: str
    title: str


SUBTYPES: dict[str, Subtype] = {s.code: s for s in (
    Subtype("A", "adenosis", "benign", "Adenosis"),
    Subtype("F", "fibroadenoma", "benign", "Fibroadenoma"),
    Subtype("PT", "phyllodes_tumor", "benign", "Phyllodes tumour"),
    Subtype("TA", "tubular_adenoma", "benign", "Tubular adenoma"),
    Subtype("DC", "ductal_carcinoma", "malignant", "Ductal carcinoma"),
    Subtype("LC", "lobular_carcinoma", "malignant", "Lobular carcinoma"),
    Subtype("MC", "mucinous_carcinoma", "malignant", "Mucinous carcinoma"),
    Subtype("PC", "papillary_carcinoma", "malignant", "Papillary carcinoma"),
)}
SUBTYPE_FOLDERS = tuple(s.folder for s in SUBTYPES.values())
CLASS_CODES = {"B": "benign", "M": "malignant"}

FILE_NAME = re.compile(r"^(?P<biopsy>[A-Z]+)_(?P<cls>[BM])_(?P<type>[A-Z]+)-(?P<year>\d{2})-"
                       r"(?P<slide>(?P<number>\d+)(?P<section>[A-Z]*))-(?P<mag>\d+)-(?P<seq>\d+)$")
FOLDER_NAME = re.compile(r"^(?P<biopsy>[A-Z]+)_(?P<cls>[BM])_(?P<type>[A-Z]+)_(?P<year>\d{2})-"
                         r"(?P<slide>\d+[A-Z]*)$")
_MAGNIFICATION = re.compile(r"^(\d+)[xX]?$")


@dataclass(frozen=True)
class Sample:
    """One image and everything known about it.

    Attributes:
        path: the file.
        relative: its path relative to the collection's root (POSIX form), as written in manifests.
        label: the class (``benign``/``malignant`` for BreakHis; the class folder or CSV label otherwise).
        subtype: the BreakHis subtype folder name (``ductal_carcinoma``), or the CSV's subtype, or "".
        magnification: ``40X``, ``100X``, ``200X``, ``400X`` (or another ``<n>X``); "" when unknown.
        patient: the patient (slide folder) the image comes from.
        group: the accession group; parts of a split never share one.
        key: the MPCS key (patient and sequence number); "" when the image has none.
    """

    path: Path
    relative: str
    label: str
    subtype: str
    magnification: str
    patient: str
    group: str
    key: str


@dataclass
class Dataset:
    """The samples of one collection, the problems found while reading it, and its identity quirks."""

    root: Path
    layout: Layout
    samples: list[Sample]
    problems: list[str] = field(default_factory=list)
    duplicate_slides: list[tuple[str, ...]] = field(default_factory=list)  # patient folders sharing a slide id

    @property
    def labels(self) -> list[str]:
        """The classes, BreakHis order first (benign, malignant), then any others sorted."""
        found = {s.label for s in self.samples}
        return [c for c in CLASSES if c in found] + sorted(found - set(CLASSES))

    @property
    def subtypes(self) -> list[str]:
        """The subtypes present, BreakHis order first."""
        found = {s.subtype for s in self.samples if s.subtype}
        return [s for s in SUBTYPE_FOLDERS if s in found] + sorted(found - set(SUBTYPE_FOLDERS))

    @property
    def magnifications(self) -> list[str]:
        """The magnifications present, lowest first."""
        return sort_magnifications({s.magnification for s in self.samples if s.magnification})

    @property
    def patients(self) -> list[str]:
        """The patients, sorted."""
        return sorted({s.patient for s in self.samples})

    def counts(self) -> dict[str, object]:
        """What ``python -m engine.histology scan DIR --json`` prints: images, patients, images per
        magnification, class and subtype, and the problems (``"<relative path>: <why>"``)."""
        return {
            "images": len(self.samples),
            "patients": len(self.patients),
            "by_magnification": _ordered_counts((s.magnification for s in self.samples if s.magnification),
                                                self.magnifications),
            "by_class": _ordered_counts((s.label for s in self.samples), self.labels),
            "by_subtype": _ordered_counts((s.subtype for s in self.samples if s.subtype), self.subtypes),
            "problems": list(self.problems),
        }

    def subset(self, samples: Iterable[Sample]) -> Dataset:
        """The same collection restricted to ``samples``."""
        return replace(self, samples=list(samples))


def _ordered_counts(values: Iterable[str], order: Sequence[str]) -> dict[str, int]:
    counts = Counter(values)
    return {name: counts[name] for name in order if counts[name]}


def magnification_value(name: str) -> int:
    """``"200X"`` -> 200."""
    return int(name.rstrip("Xx"))


def sort_magnifications(names: Iterable[str]) -> list[str]:
    """Magnification names from lowest to highest."""
    return sorted(set(names), key=magnification_value)


def normalise_magnification(name: str) -> str | None:
    """``"40x"``, ``"40X"`` or ``"40"`` -> ``"40X"``; None when ``name`` is not a magnification."""
    match = _MAGNIFICATION.match(name.strip())
    return f"{int(match.group(1))}X" if match and int(match.group(1)) > 0 else None


def accession_group(slide_id: str) -> str:
    """The numeric accession part of a slide id: ``"22549AB"`` -> ``"22549"``."""
    match = re.match(r"\d+", slide_id)
    return match.group(0) if match else slide_id


def _image_problem(path: Path) -> str | None:
    """Why ``path`` cannot be an image (empty, or a header PIL does not recognise), or None. Reads the header only."""
    try:
        if path.stat().st_size == 0:
            return "empty file (0 bytes)"
        with Image.open(path) as image:
            if image.width < 1 or image.height < 1:
                return "image has no pixels"
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        return f"not a readable image ({type(error).__name__})"
    return None


def _verify_problem(path: Path) -> str | None:
    """Like :func:`_image_problem` but decodes the whole image (finds truncated files)."""
    problem = _image_problem(path)
    if problem is not None:
        return problem
    try:
        with Image.open(path) as image:
            image.load()
    except (OSError, SyntaxError, ValueError) as error:
        return f"image data is damaged ({type(error).__name__}: {error})"
    return None


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and not any(part.startswith(".")
                                                                         for part in p.relative_to(root).parts))


def _relative(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def _parse(name: str) -> tuple[dict[str, str] | None, str | None]:
    """The parts of a BreakHis file name, or why it does not follow the grammar."""
    match = FILE_NAME.match(Path(name).stem)
    if match is None or Path(name).suffix.lower() != ".png":
        return None, "name does not follow the BreakHis grammar (e.g. SOB_B_A-14-22549AB-40-001.png)"
    code, cls = match["type"], CLASS_CODES[match["cls"]]
    subtype = SUBTYPES.get(code)
    if subtype is None:
        return None, f"unknown tumour type {code!r} (known: {', '.join(SUBTYPES)})"
    if subtype.label != cls:
        return None, f"tumour type {code} is {subtype.label}, but the name says {cls}"
    magnification = f"{int(match['mag'])}X"
    if magnification not in MAGNIFICATIONS:
        return None, f"unexpected magnification {magnification} (BreakHis has {', '.join(MAGNIFICATIONS)})"
    return {"label": cls, "subtype": subtype.folder, "magnification": magnification,
            "patient": f"{match['biopsy']}_{match['cls']}_{code}_{match['year']}-{match['slide']}",
            "group": accession_group(match["slide"]), "sequence": f"{int(match['seq']):03d}"}, None


def parse_file_name(name: str) -> dict[str, str] | None:
    """The parts of a BreakHis file name (``label``, ``subtype``, ``magnification``, ``patient``, ``group``,
    ``sequence``), or None when ``name`` does not follow the grammar. Any folder part is ignored."""
    return _parse(Path(name).name)[0]


def _breakhis_sample(path: Path, root: Path) -> tuple[Sample | None, str | None]:
    """The sample a BreakHis-named file describes, or the reason it is left out."""
    parts, problem = _parse(path.name)
    if parts is None:
        return None, problem
    magnification, patient = parts["magnification"], parts["patient"]
    folder = normalise_magnification(path.parent.name)
    if folder is not None and folder != magnification:
        return None, f"file of {magnification} in a {path.parent.name} folder"
    if FOLDER_NAME.match(path.parent.parent.name) and path.parent.parent.name != patient:
        return None, f"file of {patient} in the folder {path.parent.parent.name}"
    for ancestor in path.parents:
        if ancestor == root:
            break
        if ancestor.name in SUBTYPE_FOLDERS and ancestor.name != parts["subtype"]:
            return None, f"{parts['subtype']} file inside the {ancestor.name} folder"
        if ancestor.name in CLASSES and ancestor.name != parts["label"]:
            return None, f"{parts['label']} file inside the {ancestor.name} folder"
    return Sample(path, _relative(path, root), parts["label"], parts["subtype"], magnification, patient,
                  parts["group"], f"{patient}/{parts['sequence']}"), None


def _duplicate_slides(samples: Sequence[Sample]) -> list[tuple[str, ...]]:
    """Patient folders that share a whole slide id (e.g. ``SOB_M_DC_14-13412`` and ``SOB_M_LC_14-13412``)."""
    by_slide: dict[str, set[str]] = {}
    for sample in samples:
        by_slide.setdefault(sample.patient.rsplit("-", 1)[-1], set()).add(sample.patient)
    return [tuple(sorted(patients)) for _, patients in sorted(by_slide.items()) if len(patients) > 1]


def _read_breakhis(root: Path, files: Sequence[Path], check: bool) -> Dataset:
    samples, problems = [], []
    for path in files:
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            problems.append(f"{_relative(path, root)}: not an image file")
            continue
        sample, problem = _breakhis_sample(path, root)
        problem = problem or (_check(path, check))
        if problem is not None:
            problems.append(f"{_relative(path, root)}: {problem}")
        elif sample is not None:
            samples.append(sample)
    return Dataset(root, "breakhis", samples, problems, _duplicate_slides(samples))


def _check(path: Path, verify: bool | None) -> str | None:
    if verify is None:
        return None
    return _verify_problem(path) if verify else _image_problem(path)


def _read_folders(root: Path, files: Sequence[Path], check: bool) -> Dataset:
    samples, problems = [], []
    for path in files:
        relative = path.relative_to(root)
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            problems.append(f"{relative.as_posix()}: not an image file")
            continue
        if len(relative.parts) != 4:
            problems.append(f"{relative.as_posix()}: expected <class>/<patient>/<magnification>/<image>")
            continue
        label, patient, magnification_folder, _ = relative.parts
        magnification = normalise_magnification(magnification_folder)
        if magnification is None:
            problems.append(f"{relative.as_posix()}: {magnification_folder!r} is not a magnification (e.g. 40X)")
            continue
        problem = _check(path, check)
        if problem is not None:
            problems.append(f"{relative.as_posix()}: {problem}")
            continue
        stem = path.stem
        suffix = stem.rsplit("_", 1)[-1] if "_" in stem else ""
        if normalise_magnification(suffix) == magnification:  # "region-003_40X" is seen at 40X: key "region-003"
            stem = stem.rsplit("_", 1)[0]
        samples.append(Sample(path, relative.as_posix(), label, "", magnification, patient, patient,
                              f"{patient}/{stem}"))
    return Dataset(root, "folders", samples, problems)


CSV_COLUMNS = ("path", "label", "patient", "magnification")


def csv_rows(path: str | Path, columns: Sequence[str], what: str) -> list[dict[str, str]]:
    """The rows of a CSV file that must have ``columns`` (``what`` names the kind of file in messages).

    Raises:
        InputError: unreadable, not a CSV, or a required column is missing.
    """
    source = Path(path)
    try:
        with source.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise InputError(f"{source.name} could not be read as {what}: {error}") from error
    missing = [c for c in columns if not rows or c not in rows[0]]
    if missing:
        raise InputError(f"{source.name} is not {what}: it needs the columns {', '.join(columns)}; missing: "
                         f"{', '.join(missing)}.")
    return rows


def read_csv(path: str | Path, check: bool | None = False) -> Dataset:
    """A collection listed in a CSV with columns ``path,label,patient,magnification`` (``group``, ``subtype``,
    ``key`` optional). Missing or unreadable files are listed as problems.

    Raises:
        InputError: not a CSV, or a required column is missing.
    """
    source = Path(path)
    rows = csv_rows(source, CSV_COLUMNS, "an image list")
    root = source.parent.resolve()
    samples, problems = [], []
    for number, row in enumerate(rows, start=2):
        file = Path(row["path"])
        file = file if file.is_absolute() else root / file
        magnification = normalise_magnification(row["magnification"] or "") if row["magnification"] else ""
        where = f"{source.name} line {number} ({row['path']})"
        if magnification is None:
            problems.append(f"{where}: {row['magnification']!r} is not a magnification")
            continue
        if not row["label"] or not row["patient"]:
            problems.append(f"{where}: label and patient must not be empty")
            continue
        problem = "file not found" if not file.is_file() else _check(file, check)
        if problem is not None:
            problems.append(f"{where}: {problem}")
            continue
        relative = _relative(file, root) if file.is_relative_to(root) else str(file)
        samples.append(Sample(file, relative, row["label"], row.get("subtype") or "", magnification, row["patient"],
                              row.get("group") or row["patient"],
                              row.get("key") or f"{row['patient']}/{file.stem}"))
    return Dataset(root, "csv", samples, problems)


def read_dataset(source: str | Path, check: bool | None = False) -> Dataset:
    """Read a collection: a BreakHis download (any folder above its files), a generic
    ``<class>/<patient>/<magnification>/<image>`` folder, or a CSV file.

    Args:
        source: a folder or a ``.csv`` file.
        check: False opens each image's header (fast), True decodes every image (finds truncated files),
            None trusts the file names (no file is opened).

    Raises:
        InputError: the folder does not exist or holds no usable image (the problems are summarised).
    """
    path = Path(source)
    if path.is_file() and path.suffix.lower() == ".csv":
        dataset = read_csv(path, check)
    elif path.is_dir():
        root = path.resolve()
        files = _files(root)
        breakhis = any(FILE_NAME.match(p.stem) for p in files if p.suffix.lower() == ".png")
        dataset = _read_breakhis(root, files, check) if breakhis else _read_folders(root, files, check)
    else:
        raise InputError(f"{path} is neither a folder nor a .csv file.")
    if not dataset.samples:
        shown = "; ".join(dataset.problems[:3]) or "no image files"
        raise InputError(f"{path} holds no usable histology image ({shown}). Expected the BreakHis layout, "
                         "<class>/<patient>/<magnification>/<image> folders, or a CSV with columns "
                         f"{','.join(CSV_COLUMNS)}.")
    return dataset

