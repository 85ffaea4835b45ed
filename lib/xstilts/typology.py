"""Typological distance from English, for question C (syntactic vs semantic intermediate tasks).

Real languages (offline and full scale): **URIEL** (Littell, Mortensen, Lin, Kairis, Turner, Levin.
*URIEL and lang2vec: Representing languages as typological, geographical, and phylogenetic vectors.*
EACL 2017), as shipped in the PyPI wheel ``lang2vec==1.1.2`` (``lang2vec/data/*.npz``).

* ``syntactic_distance`` = cosine distance between the URIEL ``syntax_knn`` vectors (103 binary
  syntax features from WALS/SSWL/Ethnologue, missing values imputed by k-nearest-neighbour
  prediction) of the language and of English; this is URIEL's own definition of "syntactic
  distance" (Littell et al. 2017, Sec. 3).
* ``word_order`` = the dominant order of subject, object and verb from the URIEL ``syntax_wals``
  features ``S_SVO``, ``S_SOV``, ... (derived from WALS feature 81A; two set values = WALS 81B
  "two dominant orders", e.g. German "SVO/SOV"). ``None`` where WALS has no value.

lang2vec 1.1.2 imports ``pkg_resources``, which setuptools >= 81 no longer ships, so its API cannot
be imported in this environment. We therefore read the same shipped files directly (located with
``importlib.metadata``, without importing the package: the wheel also installs a ``bin/lang2vec.py``
script that shadows it when ``bin/`` is on ``sys.path``, as under ``.venv/bin/pytest``) and compute exactly what ``lang2vec.get_features(lang, "syntax_knn")`` /
``"syntax_wals"`` return (the ``predicted`` source of ``feature_predictions.npz`` and the ``WALS``
source of ``features.npz``). ISO 639-1 codes are mapped to ISO 639-3 with the wheel's own
``letter_codes.json`` (e.g. ``ja`` -> ``jpn``); ISO 639-3 codes are accepted as they are.

Smoke scale (synthetic languages): there is no URIEL entry for a synthetic language, so the
distance is *constructed* from the generator's own features (``xstilts.smoke.LANGUAGE_FEATURES``):
``0.5 * [word order differs from English] + 0.5 * (1 - lexical overlap with English)``.
Every label that shows it says "constructed", never "URIEL".
"""
from __future__ import annotations

import json
from functools import lru_cache
from importlib import metadata

import numpy as np

ORDERS = ["SVO", "SOV", "VSO", "VOS", "OVS", "OSV"]
SOURCE = {
    "smoke": "constructed smoke distance: 0.5*[word order != en] + 0.5*(1 - lexical overlap with en)",
    "real": "URIEL syntax_knn cosine distance from English (Littell et al. 2017; lang2vec 1.1.2)",
}


class UnknownLanguage(LookupError):
    pass


def distance_source(scale: str) -> str:
    """How `syntactic_distance` is defined at a scale (for axis labels and captions)."""
    return SOURCE["smoke" if scale == "smoke" else "real"]


def syntactic_distance(lang: str, scale: str) -> float:
    """Syntactic distance of `lang` from English in [0, 1] (URIEL, or constructed at smoke scale)."""
    if scale == "smoke":
        feats = _smoke_features(lang)
        en = _smoke_features("en")
        return 0.5 * float(feats["word_order"] != en["word_order"]) + 0.5 * (1 - feats["lexical_overlap_with_en"])
    v, en = _uriel_vector("syntax_knn", lang), _uriel_vector("syntax_knn", "en")
    return float(np.clip(1 - v @ en / (np.linalg.norm(v) * np.linalg.norm(en)), 0.0, 1.0))


def word_order(lang: str, scale: str = "full") -> str | None:
    """Dominant word order: WALS 81A via URIEL syntax_wals ('SOV', 'SVO/SOV', ...; None if WALS has none);
    at smoke scale the synthetic language's constructed order."""
    if scale == "smoke":
        return _smoke_features(lang)["word_order"]
    values = _uriel_vector("syntax_wals", lang, names=[f"S_{o}" for o in ORDERS])
    if np.all(values < 0):
        return None
    return "/".join(o for o, v in zip(ORDERS, values) if v > 0) or None


def iso639_3(lang: str) -> str:
    """ISO 639-1 -> ISO 639-3 with URIEL's own table; raises UnknownLanguage if URIEL lacks it."""
    code = _letter_codes().get(lang, lang)
    if code not in _database("features.npz")["index"]:
        raise UnknownLanguage(f"language {lang!r} is not in URIEL (lang2vec 1.1.2): give an ISO 639-1 or "
                              f"639-3 code URIEL knows, e.g. 'ja' or 'jpn'")
    return code


# ----------------------------------------------------------------------------------- internals
_SETS = {"syntax_knn": ("feature_predictions.npz", "predicted"), "syntax_wals": ("features.npz", "WALS")}


def _uriel_vector(feature_set: str, lang: str, names: list[str] | None = None) -> np.ndarray:
    filename, source = _SETS[feature_set]
    db = _database(filename)
    code = iso639_3(lang)
    cols = [db["feats"].index(n) for n in names] if names else [i for i, f in enumerate(db["feats"]) if f.startswith("S_")]
    return db["data"][db["index"][code], cols, db["sources"].index(source)].astype(float)


@lru_cache(maxsize=None)
def _database(filename: str) -> dict:
    with np.load(_data_file(filename), allow_pickle=False) as z:
        return {"data": z["data"], "feats": [str(f) for f in z["feats"]], "sources": [str(s) for s in z["sources"]],
                "index": {str(l): i for i, l in enumerate(z["langs"])}}


@lru_cache(maxsize=None)
def _letter_codes() -> dict:
    return json.loads(_data_file("letter_codes.json").read_text(encoding="utf-8"))


def _data_file(name: str):
    """A file the lang2vec wheel ships under lang2vec/data/ (pip install lang2vec==1.1.2)."""
    try:
        path = metadata.distribution("lang2vec").locate_file(f"lang2vec/data/{name}")
    except metadata.PackageNotFoundError as e:
        raise ImportError("typological distances need the URIEL data of `pip install lang2vec==1.1.2`") from e
    return path


def _smoke_features(lang: str) -> dict:
    from xstilts.smoke import LANGUAGE_FEATURES

    if lang not in LANGUAGE_FEATURES:
        raise UnknownLanguage(f"{lang!r} is not a smoke language (smoke languages: {sorted(LANGUAGE_FEATURES)})")
    return LANGUAGE_FEATURES[lang]
