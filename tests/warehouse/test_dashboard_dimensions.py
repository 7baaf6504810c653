"""The radar of the four dimensions writes its words and numbers as the rest of the page (streams.formatting):
n with thousands separators per language, "no data" / "pas de données" where a dimension has no score."""

from __future__ import annotations

from warehouse.dashboard_dimensions import radar_svg


def axis(dimension: str, score: float | None, n: int) -> dict:
    label = dimension.capitalize()
    return {
        "dimension": dimension,
        "label_en": label,
        "label_fr": label,
        "score": score,
        "n": n,
        "target": 60.0,
        "status": "green",
    }


def test_radar_labels_follow_the_page_language() -> None:
    svg = radar_svg([axis("relational", 71.4, 2328), axis("service", None, 12), axis("experiential", 55, 40)])
    assert 'class="value en">71 / 100 · n = 2,328</text>' in svg
    assert 'class="value fr">71 / 100 · n = 2\u202f328</text>' in svg
    assert 'class="value en">no data · n = 12</text>' in svg
    assert 'class="value fr">pas de données · n = 12</text>' in svg
