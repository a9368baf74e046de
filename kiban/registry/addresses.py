"""Full printed addresses (都道府県 + 市区町村 + 町字 + 番地以下 + 方書) of registry records.

``PersonState.town_name`` already holds the full label (``神奈川県横浜市中区山下町``) for
records written by bulk generation and CSV import (:func:`kiban.registry.bulk.town_label`),
but for events recorded through the services (console forms, the API, procedures) it holds
what was entered, usually just the 町字 (``山下町``). Anything printed for the resident (a
住民票の写し, a notice letter) must carry the full address, so the missing prefix is found from
the municipality's town list: the town with that name (and, when several wards have one,
that 町字ID or postcode), else the municipality's own name. A name that already starts with
the prefecture, the city or a ward is completed, never prefixed twice.

Pure module (no Django): the municipality is passed as its code, prefecture and name.
"""

from __future__ import annotations

from functools import lru_cache

from kiban.registry.towns import InvalidLgCodeError, Town, UnknownMunicipalityError, towns_for

__all__ = ["full_address", "full_town_name"]


@lru_cache(maxsize=32)
def _towns(lg_code: str) -> tuple[tuple[Town, ...], tuple[str, ...]]:
    """(towns, distinct 市区町村 labels longest first) of a municipality; empty if unknown."""
    try:
        towns = tuple(towns_for(lg_code))
    except (InvalidLgCodeError, UnknownMunicipalityError):
        return (), ()
    cities = tuple(sorted({t.city for t in towns}, key=lambda c: (-len(c), c)))
    return towns, cities


@lru_cache(maxsize=8192)
def full_town_name(
    town_name: str,
    *,
    lg_code: str,
    prefecture: str,
    municipality_name: str,
    town_code: str = "",
    postcode: str = "",
) -> str:
    """``town_name`` with 都道府県 and 市区町村 (and the ward of a designated city) in front.

    >>> full_town_name("山下町", lg_code="141003", prefecture="神奈川県",
    ...                municipality_name="横浜市")
    '神奈川県横浜市中区山下町'
    """
    name = town_name.strip()
    if not name:
        return ""
    if name.startswith(prefecture):
        return name  # already the full label (generated or imported records)
    towns, cities = _towns(lg_code)
    for city in (*cities, municipality_name):
        if name.startswith(city):
            return prefecture + name  # 横浜市中区山下町, 千代田区丸の内
    for city in cities:  # a ward without its city: 中区山下町
        ward = city[len(municipality_name) :] if city.startswith(municipality_name) else ""
        if ward and name.startswith(ward):
            return prefecture + municipality_name + name
    matches = [t for t in towns if name.startswith(t.name)]
    if matches:
        longest = max(len(t.name) for t in matches)
        matches = [t for t in matches if len(t.name) == longest]
        for narrower in (
            [t for t in matches if t.machiaza_id == town_code],
            [t for t in matches if t.postcode == postcode],
        ):
            if narrower:
                matches = narrower
                break
        found = {t.city for t in matches}
        if len(found) == 1:
            return prefecture + found.pop() + name
    # Unknown town (or the same name in several wards): at least the municipality. A town or
    # village in a 郡 has exactly one city label in the town list, which includes the 郡.
    city = cities[0] if len(cities) == 1 else municipality_name
    return prefecture + city + name


def full_address(
    town_name: str,
    address_detail: str,
    building: str = "",
    *,
    lg_code: str,
    prefecture: str,
    municipality_name: str,
    town_code: str = "",
    postcode: str = "",
) -> str:
    """The address as printed: full town name, 番地以下, then 方書 after a full-width space."""
    town = full_town_name(
        town_name,
        lg_code=lg_code,
        prefecture=prefecture,
        municipality_name=municipality_name,
        town_code=town_code,
        postcode=postcode,
    )
    text = town + address_detail.strip()
    return f"{text}\u3000{building.strip()}" if building.strip() else text
