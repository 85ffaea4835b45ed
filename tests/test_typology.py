"""Typological distance from English: URIEL (lang2vec 1.1.2 data) for real languages, constructed for smoke."""
import pytest

from xstilts import smoke, typology

XTREME = "af ar bg bn de el en es et eu fa fi fr he hi hu id it ja jv ka kk ko ml mr ms my nl pt ru sw ta te th tl tr ur vi yo zh".split()
XCOPA = "et ht id it qu sw ta th tr vi zh".split()


def test_english_is_at_distance_zero():
    assert typology.syntactic_distance("en", "full") == pytest.approx(0.0, abs=1e-9)
    assert typology.syntactic_distance("en", "smoke") == 0.0


@pytest.mark.parametrize("lang", sorted(set(XTREME + XCOPA)))
def test_every_xtreme_and_xcopa_language_has_a_distance_in_unit_interval(lang):
    d = typology.syntactic_distance(lang, "offline")
    assert 0.0 <= d <= 1.0


def test_iso_639_1_and_639_3_codes_agree():
    assert typology.iso639_3("ja") == "jpn"
    assert typology.syntactic_distance("ja", "full") == typology.syntactic_distance("jpn", "full")


def test_robust_uriel_facts():
    d = {lang: typology.syntactic_distance(lang, "full") for lang in ["es", "fr", "de", "nl", "ja", "ko", "tr", "hi"]}
    # the SOV languages of Asia are farther from English than the European languages
    assert min(d[x] for x in ["ja", "ko", "tr", "hi"]) > max(d[x] for x in ["es", "fr", "de", "nl"])


def test_word_order_from_wals():
    assert typology.word_order("en") == "SVO"
    assert typology.word_order("ja") == "SOV"
    assert typology.word_order("tr") == "SOV"
    assert typology.word_order("de") == "SVO/SOV"  # WALS 81A "no dominant order" (two orders, 81B)
    assert typology.word_order("jv") is None  # no WALS value


def test_unknown_language_raises_a_clear_error():
    with pytest.raises(typology.UnknownLanguage, match="not in URIEL"):
        typology.syntactic_distance("xx", "full")
    with pytest.raises(typology.UnknownLanguage, match="not a smoke language"):
        typology.syntactic_distance("fr", "smoke")


def test_smoke_distance_is_constructed_from_generator_features():
    for lang, f in smoke.LANGUAGE_FEATURES.items():
        expected = 0.5 * (f["word_order"] != "SVO") + 0.5 * (1 - f["lexical_overlap_with_en"])
        assert typology.syntactic_distance(lang, "smoke") == pytest.approx(expected)
        assert typology.word_order(lang, "smoke") == f["word_order"]
    assert "constructed" in typology.distance_source("smoke")
    assert "URIEL" in typology.distance_source("full") and "URIEL" not in typology.distance_source("smoke")
