"""The checks every estimation engine makes of what it is given, before any arithmetic.

The engines (analysis.mixed, analysis.cluster_robust) are imported by academics and called on their own
data, so they refuse, with every problem named at once (rows are 0-based positions), what would otherwise
give a wrong number or a confusing error: y, X and cluster labels of different lengths; pandas inputs whose
indexes differ (rows are matched by position); non-numeric columns; duplicate column names; missing values
(NaN, None, pd.NA, NaT) or infinite ones; a missing cluster label (never merged into a neighbouring
cluster, nor read as the label 'nan' when labels come as a list); cluster labels mixing numbers and text
(pandas would keep 1 and '1' apart, NumPy would merge them); and a column of X, or y, whose largest
absolute value lies outside [1e-50, 1e50], where the products the engines form would overflow or underflow
in floating point. (The extremes of that range, combined, can still overflow the small-sample algebra's
higher powers: there the fit fails with an error rather than a number.)
"""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd

from analysis.errors import first_few, printable

# The engines form products of up to fourth powers of the data's scale (X'X, its inverse, squared scores): a
# column of X, or y, whose largest absolute value lies outside this range is refused (change its units).
MAGNITUDE_RANGE = (1e-50, 1e50)


def rows_text(mask: np.ndarray) -> str:
    """'row 3' / 'rows 3, 17, 20, 21, 40 and 2 more' (0-based positions)."""
    rows = np.flatnonzero(mask)
    return f"{'row' if len(rows) == 1 else 'rows'} {first_few(rows.tolist())}"


def count_text(number: int, word: str) -> str:
    return f"{number:,} {word}{'' if number == 1 else 's'}"


def names_text(names) -> str:
    return ", ".join(f"'{printable(name)}'" for name in names)


def is_number(value) -> bool:
    """A finite real number, and not True/False (which Python counts as 1/0): the rule for every numeric
    argument the engines take (levels, seeds, replications, tolerances, starts)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_) \
        and bool(np.isfinite(value))


def check_level(level) -> None:
    """A confidence level: a number in (0, 1)."""
    if not (is_number(level) and 0.0 < level < 1.0):
        raise ValueError(f"level must be a number in (0, 1), such as 0.95, got {level!r}")


def _is_real_number(value) -> bool:
    return isinstance(value, numbers.Real | np.bool_) and not isinstance(value, np.complexfloating)


def as_float(values) -> tuple[np.ndarray, np.ndarray] | str:
    """A 1-D input as (float values, missing mask), or a description of why it is not numeric.

    Missing means NaN, None, pd.NA or NaT. Numbers, booleans and nullable numeric pandas columns are numeric;
    an object column is numeric when every value present is a real number."""
    if isinstance(values, pd.Series | pd.Index):
        dtype = values.dtype
        if pd.api.types.is_complex_dtype(dtype):
            return f"complex ({dtype})"
        if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
            missing = np.asarray(pd.isna(values), dtype=bool)
            return values.to_numpy(dtype=float, na_value=np.nan), missing
        if not pd.api.types.is_object_dtype(dtype):
            return f"of type {dtype}"
        values = values.to_numpy()
    array = np.asarray(values)
    if array.dtype.kind in "biuf":
        converted = array.astype(float)
        return converted, np.isnan(converted)
    if array.dtype.kind != "O":
        return f"of type {array.dtype}"
    missing = np.asarray(pd.isna(array), dtype=bool)
    present = array[~missing]
    for value in present:
        if not _is_real_number(value):
            return f"not numeric (it holds {printable(repr(value))})"
    converted = np.full(array.shape, np.nan)
    try:
        converted[~missing] = present.astype(float)
    except OverflowError:  # a Python int beyond floating point's range (about 1.8e308)
        return "holding a whole number beyond the range of floating point, about 1.8e308"
    return converted, missing


def label_kinds(values) -> set[str]:
    """The kinds of the labels present (missing ones aside): 'numbers', 'text', 'true/false values' or a
    type name. One kind is needed: pandas would treat 1 and '1' as two clusters, NumPy as one."""
    array = np.asarray(values, dtype=object) if not isinstance(values, np.ndarray) else values
    if array.dtype.kind != "O":
        return {"labels"}
    kinds = set()
    for value in pd.unique(array[~np.asarray(pd.isna(array), dtype=bool)]):
        if isinstance(value, bool | np.bool_):
            kinds.add("true/false values")
        elif isinstance(value, numbers.Number):
            kinds.add("numbers")
        elif isinstance(value, str):
            kinds.add("text")
        else:
            kinds.add(type(value).__name__)
    return kinds


def one_column(values, name: str):
    """A 1-D view of y or labels: a Series, a one-column DataFrame or an array of shape (n,) or (n, 1)."""
    if isinstance(values, pd.DataFrame):
        if values.shape[1] != 1:
            raise ValueError(f"{name} must be one value per row, got a DataFrame with {values.shape[1]} "
                             "columns")
        return values.iloc[:, 0]
    if isinstance(values, pd.Series | pd.Index):
        return values
    # A list or tuple kept as Python objects: NumPy would turn [1, "a", nan] into strings ("nan" a label).
    array = values if isinstance(values, np.ndarray) else np.asarray(values, dtype=object)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise ValueError(f"{name} must be one value per row (one-dimensional), got shape {array.shape}")
    return array


def _design(X) -> tuple[list[str], np.ndarray | None, list[str]]:
    """Term names, X as floats (n, k; a missing value is NaN) and descriptions of non-numeric columns."""
    if isinstance(X, pd.DataFrame):
        terms = [str(c) for c in X.columns]
        if all(isinstance(t, np.dtype) and t.kind in "biuf" for t in X.dtypes):  # the usual case: one pass
            return terms, X.to_numpy(dtype=float), []
        columns = [X.iloc[:, i] for i in range(X.shape[1])]
    else:
        array = np.asarray(X)
        if array.ndim != 2:
            raise ValueError(f"X must be two-dimensional (rows x columns), got shape {array.shape}")
        terms = [f"x{i}" for i in range(array.shape[1])]
        if array.dtype.kind in "biuf":
            return terms, array.astype(float), []
        columns = [array[:, i] for i in range(array.shape[1])]
    converted = [as_float(column) for column in columns]
    not_numeric = [f"'{printable(name)}' ({result})" for name, result in zip(terms, converted, strict=True)
                   if isinstance(result, str)]
    if not_numeric or not converted:
        return terms, None, not_numeric
    return terms, np.column_stack([values for values, _ in converted]), []


def _check_alignment(objects: dict) -> None:
    """Rows are matched by position; pandas inputs whose indexes differ are almost always misaligned."""
    indexed = [(name, obj.index) for name, obj in objects.items()
               if isinstance(obj, pd.Series | pd.DataFrame)]
    for name, index in indexed[1:]:
        if not index.equals(indexed[0][1]):
            raise ValueError(f"{indexed[0][0]} and {name} are pandas objects with different indexes; rows "
                             "are matched by position, so put them in the same row order (e.g. "
                             "reset_index(drop=True) on both) or pass arrays")


def checked_inputs(y, X, labels: dict) -> tuple[np.ndarray, np.ndarray, list[str], dict]:
    """y (n,), X (n, k) as floats, the term names, and for each named labelling (clusters; None entries are
    skipped) its codes (n,) and sorted labels; ValueError naming every problem found otherwise."""
    labels = {name: values for name, values in labels.items() if values is not None}
    y_in = one_column(y, "y")
    labels_in = {name: one_column(values, name) for name, values in labels.items()}
    terms, xa, not_numeric = _design(X)
    n = len(X)
    lengths = {"y": len(y_in), "X": n, **{name: len(values) for name, values in labels_in.items()}}
    if len(set(lengths.values())) > 1:
        listed = [f"{name} has {length:,}" for name, length in lengths.items()]
        listed[0] += " rows"
        raise ValueError(f"{', '.join(listed[:-1])} and {listed[-1]}: each must have one entry per row (rows "
                         "are matched by position)")
    if n == 0:
        names = list(lengths)
        raise ValueError(f"{', '.join(names[:-1])} and {names[-1]} have no rows")
    if not terms:
        raise ValueError("X has no columns (include the intercept column yourself)")
    duplicated = sorted({t for t in terms if terms.count(t) > 1})
    if duplicated:
        raise ValueError(f"X has more than one column named {names_text(duplicated)}: every term needs its "
                         "own name")
    _check_alignment({"y": y, "X": X, **labels})

    problems = []
    y_values = as_float(y_in)
    if isinstance(y_values, str):
        problems.append(f"y is {y_values}")
    if not_numeric:
        one = len(not_numeric) == 1
        problems.append(f"X {'column' if one else 'columns'} {', '.join(not_numeric)} "
                        f"{'is' if one else 'are'} not numeric: code categories as indicator columns first")
    if problems:
        raise ValueError("cannot fit: " + "; ".join(problems))

    ya, y_missing = y_values
    coded = {}
    for name, values in labels_in.items():
        # Missing labels (None, NaN, NA, NaT) get code -1; a Series of arrow strings is factorised as it is.
        codes, levels = pd.factorize(values)
        levels = np.asarray(levels)
        kinds = label_kinds(levels)  # on the distinct labels only
        if len(kinds) > 1:
            raise ValueError(f"{name} labels mix {' and '.join(sorted(kinds))} (1 and '1' would be two "
                             "clusters or one depending on the container): use labels of one type")
        try:  # sorted labels, so that clusters are numbered the same whatever the row order
            order = np.argsort(levels, kind="stable")
        except TypeError as err:
            raise ValueError(f"{name} labels cannot be put in order ({err}); use labels of one type") from err
        rank = np.empty(len(levels), dtype=np.int64)
        rank[order] = np.arange(len(levels))
        sorted_codes = np.full(len(codes), -1, dtype=np.int64)
        sorted_codes[codes >= 0] = rank[codes[codes >= 0]]
        coded[name] = (sorted_codes, levels[order])
    if y_missing.any():
        problems.append(f"y has {count_text(int(y_missing.sum()), 'missing value')} (NaN, None or NA) at "
                        f"{rows_text(y_missing)}")
    y_infinite = np.isinf(ya)
    if y_infinite.any():
        problems.append(f"y has {count_text(int(y_infinite.sum()), 'infinite value')} at "
                        f"{rows_text(y_infinite)}")
    # Each column's range, in one pass with no array the size of X: a missing (NaN) or infinite value shows
    # in it, and it gives the magnitudes. The masks that say where are made only when one is there.
    lowest, highest = xa.min(axis=0), xa.max(axis=0)
    finite = bool(np.isfinite(lowest).all() and np.isfinite(highest).all())
    for mask, word in (() if finite else ((np.isnan(xa), "missing value"), (np.isinf(xa), "infinite value"))):
        if mask.any():
            per_column = mask.sum(axis=0)
            where = ", ".join(f"'{printable(terms[i])}' ({per_column[i]:,})"
                              for i in np.flatnonzero(per_column))
            problems.append(f"X has {count_text(int(mask.sum()), word)}"
                            f"{' (NaN, None or NA)' if word == 'missing value' else ''} in "
                            f"{'column' if np.count_nonzero(per_column) == 1 else 'columns'} {where}, at "
                            f"{rows_text(mask.any(axis=1))}")
    for name, (codes, _) in coded.items():
        missing = codes < 0
        if missing.any():
            problems.append(f"{name} has {count_text(int(missing.sum()), 'missing label')} (NaN, None or NA) "
                            f"at {rows_text(missing)}: a row without a cluster is not merged into any "
                            "cluster, so drop it or give it a label")
    if problems:
        raise ValueError("cannot fit: " + "; ".join(problems) + " (rows are 0-based positions)")
    low, high = MAGNITUDE_RANGE
    largest = {"y": float(np.abs(ya).max()),
               **{f"X column '{printable(t)}'": float(v)
                  for t, v in zip(terms, np.maximum(np.abs(lowest), np.abs(highest)), strict=True)}}
    extreme = [f"{name} (largest absolute value {value:.3g})" for name, value in largest.items()
               if value > 0.0 and not low <= value <= high]
    if extreme:
        raise ValueError(f"cannot fit: {', '.join(extreme)} outside [{low:g}, {high:g}]: the products the "
                         "computation forms would overflow or underflow in floating point; change the units")
    return ya, xa, terms, coded
