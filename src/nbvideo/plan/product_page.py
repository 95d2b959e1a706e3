"""From a product page to a brief: the page's structured data, read with extruct.

An ad usually starts from a shop's product page, and shops already describe the product for
search engines: schema.org `Product` (or Shopify's `ProductGroup` of variants) in JSON-LD,
the same in microdata, and OpenGraph's product tags. `read_page` reads those three, never the
page's visible text, so a price is the one the shop published, not a number near a button:

- `ProductFacts`: name, description, brand, price and currency, the list price when the page
  gives one (a sale), availability, rating, images, and which syntaxes said so;
- `brief_text`: the facts as a one-paragraph brief the planner reads (product, offer, brand);
- `fetch_page` / `fetch_images`: a URL goes through the guarded fetcher of provider outputs
  (https only, no private addresses, size caps, type checks); a saved page's own images are
  read from its folder (the `_files/` folder a browser saves) and never from elsewhere.
"""

from __future__ import annotations

import html
import math
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urljoin, urlsplit

from pydantic import BaseModel, Field

from nbvideo.errors import InvalidInput, PathNotAllowed
from nbvideo.providers.download import DownloadError, allowed_hosts_from, download, public_url
from nbvideo.runtime.jobs import run_sync

__all__ = ["MAX_PAGE_BYTES", "FetchedImage", "ProductFacts", "ProductPage", "brief_text",
           "fetch_images", "fetch_page", "read_page"]

MAX_PAGE_BYTES = 5_000_000
MAX_IMAGE_BYTES = 20_000_000
IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp")
_IMAGE_SUFFIXES = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".webp": "webp"}
_PRODUCT_TYPES = {"product", "productgroup", "individualproduct", "productmodel", "vehicle"}
_LIST_PRICE = ("listprice", "strikethroughprice", "msrp", "srp")
Syntax = Literal["json-ld", "microdata", "opengraph"]
LOOKED_FOR = ("a schema.org Product (or ProductGroup) in JSON-LD or microdata, or OpenGraph "
              "product tags (og:type product, product:price:amount)")


class ProductFacts(BaseModel):
    """What a product page says about its product, from its structured data only."""

    name: str = Field(min_length=1, max_length=200)
    description: str | None = None
    brand: str | None = None
    price: float | None = Field(None, ge=0)
    currency: str | None = Field(None, pattern=r"^[A-Z]{3}$")
    list_price: float | None = Field(None, ge=0, description="The price before a sale, when "
                                     "the page gives one (schema.org ListPrice).")
    price_from: bool = Field(False, description="The price is the lowest of several "
                             "(variants or an AggregateOffer).")
    availability: str | None = None
    rating: float | None = Field(None, ge=0)
    review_count: int | None = Field(None, ge=0)
    images: list[str] = Field(default_factory=list, description="Absolute image URLs, in the "
                              "page's order, without repeats.")
    url: str | None = None
    found_in: list[Syntax] = Field(default_factory=list)

    @property
    def discount_pct(self) -> int | None:
        """Whole percent off the list price, when the page says the product is on sale."""
        if self.price is None or not self.list_price or self.list_price <= self.price:
            return None
        return round(100 * (1 - self.price / self.list_price))

    def money(self, amount: float) -> str:
        """`amount` with the currency the way a brief writes it ($119, £44.50, 89 EUR)."""
        text = f"{amount:,.0f}" if amount == int(amount) else f"{amount:,.2f}"
        sign = {"USD": "$", "GBP": "£", "EUR": "€", "JPY": "¥"}.get(self.currency or "")
        if sign:
            return f"{sign}{text}"
        return f"{text} {self.currency}" if self.currency else text

    @property
    def offer(self) -> str | None:
        """The offer in a few words ('25% off: £44, was £59'; 'from $19'), or None."""
        if self.price is None:
            return None
        pct = self.discount_pct
        if pct and self.list_price:
            return f"{pct}% off: {self.money(self.price)}, was {self.money(self.list_price)}"
        return f"{'from ' if self.price_from else ''}{self.money(self.price)}"


def brief_text(facts: ProductFacts, duration_s: float | None = None) -> str:
    """The facts as a brief: '30-second ad for the Orbit Desk Lamp, by Lumen: a dimmable LED
    desk lamp ... Now €89.' The product comes first after 'ad for' and ends at a comma, which
    is where the planner's brief reading (model/brief_facts.py) looks for it."""
    length = f"{duration_s:g}-second " if duration_s else ""
    head = f"{length}ad for the {facts.name}" if length else f"Ad for the {facts.name}"
    if facts.brand and facts.brand.lower() not in facts.name.lower():
        head += f", by {facts.brand}"
    parts = [head + ("." if not facts.description else ":")]
    if facts.description:
        desc = facts.description.rstrip(". ")
        parts.append(desc[:1].lower() + desc[1:] + ".")
    offer = facts.offer
    if offer:
        parts.append(f"Now {offer}." if facts.discount_pct else f"Price: {offer}.")
    if facts.rating and facts.review_count:
        parts.append(f"Rated {facts.rating:g}/5 by {facts.review_count:,} reviewers.")
    return " ".join(parts)


# --------------------------------------------------------------------------- reading

def _clean(value: Any, limit: int = 600) -> str | None:
    """A text field as plain words: entities decoded, tags and runs of space removed."""
    if isinstance(value, list):
        value = next((v for v in value if isinstance(v, str) and v.strip()), None)
    if isinstance(value, Mapping):
        value = value.get("name") or value.get("@value")
    if not isinstance(value, str):
        return None
    text = html.unescape(re.sub(r"<[^>]+>", " ", html.unescape(value)))
    text = re.sub(r"[\x00-\x1f\x7f]+", " ", text)
    text = " ".join(text.split())
    if len(text) > limit:
        cut = text[:limit].rsplit(" ", 1)[0]
        text = cut.rstrip(",;: ") + "…"
    return text or None


def _number(value: Any) -> float | None:
    """A price or rating: a JSON number or a plain decimal string ('119.00', '1,299.00');
    anything else (NaN, words, a range) is no number."""
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        n = float(value)
    elif isinstance(value, str) and re.fullmatch(r"\s*\d[\d,]*(\.\d+)?\s*", value):
        n = float(value.replace(",", ""))
    else:
        return None
    return n if math.isfinite(n) and n >= 0 else None


def _types(item: Mapping[str, Any]) -> set[str]:
    t = item.get("@type", ())
    names = [t] if isinstance(t, str) else [x for x in t if isinstance(x, str)]
    return {n.rstrip("/").rsplit("/", 1)[-1].lower() for n in names}


def _walk(node: Any) -> Iterator[Mapping[str, Any]]:
    """Every dict in a JSON-LD or microdata tree (through @graph, lists and properties)."""
    if isinstance(node, Mapping):
        yield node
        for v in node.values():
            yield from _walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v)


def _products(items: Iterable[Any]) -> list[Mapping[str, Any]]:
    """The top product nodes: a ProductGroup's variants are part of it, not products apart."""
    found: list[Mapping[str, Any]] = []
    inside: set[int] = set()
    for node in _walk(list(items)):
        if not (_types(node) & _PRODUCT_TYPES) or id(node) in inside:
            continue
        found.append(node)
        for sub in _walk([v for k, v in node.items() if k != "@type"]):
            inside.add(id(sub))
    return found


def _image_urls(value: Any, base: str) -> list[str]:
    out: list[str] = []
    for v in value if isinstance(value, list) else [value]:
        if isinstance(v, Mapping):
            v = v.get("url") or v.get("contentUrl") or v.get("@id")
        if isinstance(v, str) and v.strip() and not v.strip().startswith("data:"):
            out.append(urljoin(base, v.strip()))
    return out


def _offers(node: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    offers = node.get("offers")
    listed = offers if isinstance(offers, list) else [offers]
    found = [o for o in listed if isinstance(o, Mapping)]
    for variant in node.get("hasVariant") or []:
        if isinstance(variant, Mapping):
            found.extend(_offers(variant))
    return found


def _prices(offer: Mapping[str, Any]) -> tuple[float | None, float | None, str | None, bool]:
    """(price, list price, currency, 'from') of one Offer or AggregateOffer."""
    currency = _clean(offer.get("priceCurrency"))
    if "aggregateoffer" in _types(offer) or "lowPrice" in offer:
        return _number(offer.get("lowPrice")), None, currency, True
    price, listed = _number(offer.get("price")), None
    specs = offer.get("priceSpecification")
    for spec in specs if isinstance(specs, list) else [specs]:
        if not isinstance(spec, Mapping):
            continue
        kind = str(spec.get("priceType") or "").rstrip("/").rsplit("/", 1)[-1].lower()
        n = _number(spec.get("price"))
        currency = currency or _clean(spec.get("priceCurrency"))
        if kind in _LIST_PRICE:
            listed = n
        elif price is None:
            price = n
    return price, listed, currency, False


def _from_schema(node: Mapping[str, Any], base: str, syntax: Syntax) -> dict[str, Any]:
    facts: dict[str, Any] = {"name": _clean(node.get("name"), 200),
                             "description": _clean(node.get("description")),
                             "brand": _clean(node.get("brand"), 100) or _clean(
                                 node.get("manufacturer"), 100),
                             "url": node.get("url") if isinstance(node.get("url"), str) else None,
                             "found_in": [syntax]}
    images = _image_urls(node.get("image"), base)
    for variant in node.get("hasVariant") or []:
        if isinstance(variant, Mapping):
            images += _image_urls(variant.get("image"), base)
    facts["images"] = images
    priced = [p for p in (_prices(o) for o in _offers(node)) if p[0] is not None]
    if priced:
        low = min(priced, key=lambda p: p[0] or 0.0)
        facts |= {"price": low[0], "list_price": low[1], "currency": low[2],
                  "price_from": low[3] or len({p[0] for p in priced}) > 1}
        availability = next((o.get("availability") for o in _offers(node)
                             if isinstance(o.get("availability"), str)), None)
        if availability:
            words = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", availability.rsplit("/", 1)[-1])
            facts["availability"] = words.lower()
    rating = node.get("aggregateRating")
    if isinstance(rating, Mapping):
        facts["rating"] = _number(rating.get("ratingValue"))
        count = _number(rating.get("reviewCount") or rating.get("ratingCount"))
        facts["review_count"] = int(count) if count is not None else None
    return facts


def _from_opengraph(items: list[Mapping[str, Any]], base: str) -> dict[str, Any] | None:
    og: dict[str, Any] = {}
    for item in items:
        for k, v in item.items():
            og.setdefault(k, v)
    kind = str(og.get("og:type") or "").lower()
    amount = og.get("product:price:amount") or og.get("og:price:amount")
    if not (kind.startswith("product") or kind.startswith("og:product") or amount):
        return None
    images = _image_urls(og.get("og:image:secure_url") or og.get("og:image"), base)
    return {"name": _clean(og.get("og:title"), 200), "description": _clean(og.get("og:description")),
            "brand": _clean(og.get("product:brand"), 100), "images": images,
            "price": _number(amount),
            "currency": _clean(og.get("product:price:currency") or og.get("og:price:currency")),
            "url": og.get("og:url") if isinstance(og.get("og:url"), str) else None,
            "found_in": ["opengraph"]}


def _merge(found: list[dict[str, Any]]) -> dict[str, Any]:
    """The first source's facts, with what it lacks filled from the next ones."""
    merged: dict[str, Any] = {"images": [], "found_in": []}
    for facts in found:
        for k, v in facts.items():
            if k in ("images", "found_in"):
                merged[k] += [x for x in v if x not in merged[k]]
            elif merged.get(k) in (None, False) and v not in (None, ""):
                merged[k] = v
    return merged


def read_page(page: str, base_url: str) -> ProductFacts:
    """The product a page describes, from its JSON-LD, microdata and OpenGraph. `base_url`
    resolves relative links (the page's URL, or file:// of a saved page). InvalidInput says
    what was looked for when the page describes no product."""
    import extruct

    if "\x00" in page:
        page = page.replace("\x00", "")
    try:
        data = extruct.extract(page, base_url=base_url, uniform=True,
                               syntaxes=["json-ld", "microdata", "opengraph"], errors="ignore")
    except Exception as exc:  # lxml on bytes it cannot parse at all
        raise InvalidInput(f"the product page could not be parsed as HTML "
                           f"({type(exc).__name__}); looked for {LOOKED_FOR}") from None
    found: list[dict[str, Any]] = []
    for syntax in ("json-ld", "microdata"):
        for node in _products(data.get(syntax) or []):
            facts = _from_schema(node, base_url, syntax)  # type: ignore[arg-type]
            if facts["name"]:
                found.append(facts)
                break  # the page's first product: a related-products list comes later
    og = _from_opengraph(data.get("opengraph") or [], base_url)
    if og:
        found.append(og)
    if not found or not any(f.get("name") for f in found):
        raise InvalidInput(f"no product data on this page: looked for {LOOKED_FOR}; found "
                           + (", ".join(f"{k} ({len(v)} item{'s' * (len(v) != 1)})"
                                        for k, v in data.items() if v) or "none of them"))
    merged = _merge(found)
    currency = merged.get("currency")
    merged["currency"] = currency.upper() if isinstance(currency, str) and re.fullmatch(
        r"[A-Za-z]{3}", currency) else None
    merged["images"] = merged["images"][:12]
    return ProductFacts.model_validate(merged)


# --------------------------------------------------------------------------- fetching

class ProductPage(BaseModel):
    """A page read for its product: where it came from and what it says."""

    source: str
    facts: ProductFacts
    saved_file: Path | None = Field(None, description="The saved page, when given a file; "
                                    "its own images are read from its folder.")


class FetchedImage(BaseModel):
    """One product image fetched into a folder."""

    url: str
    path: Path


def _hosts(allowed_hosts: Iterable[str] | None) -> frozenset[str]:
    if allowed_hosts is None:
        return allowed_hosts_from(os.environ.get("NBVIDEO_DOWNLOAD_HOSTS", ""))
    return frozenset(h.lower() for h in allowed_hosts)


def _is_url(source: str) -> bool:
    return bool(re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", source))


def fetch_page(source: str | os.PathLike[str], *,
               allowed_hosts: Iterable[str] | None = None) -> ProductPage:
    """Read a product page from a URL (through the guarded fetcher: https, public addresses,
    at most 5 MB of text/html) or a saved HTML file, and its product facts."""
    if isinstance(source, str) and "\x00" in source:
        raise InvalidInput("source: a URL or file path cannot contain a NUL character")
    text = str(source)
    if isinstance(source, str) and _is_url(text):
        scheme = urlsplit(text).scheme.lower()
        if scheme not in ("http", "https"):
            raise InvalidInput(f"source: {public_url(text)!r} is a {scheme}:// URL; allowed "
                               "are https:// URLs and saved .html files")
        with tempfile.TemporaryDirectory(prefix="nbvideo-page-") as tmp:
            out = Path(tmp) / "page.html"
            run_sync(download(text, out, max_bytes=MAX_PAGE_BYTES,
                              content_types=("text/html", "application/xhtml+xml"),
                              allowed_hosts=_hosts(allowed_hosts)))
            page = out.read_bytes().decode("utf-8", errors="replace")
        return ProductPage(source=public_url(text), facts=read_page(page, text))
    path = Path(text).expanduser()
    if path.suffix.lower() not in (".html", ".htm", ".xhtml"):
        raise InvalidInput(f"source: {path.name!r} is not a saved page; allowed are https:// "
                           "URLs and .html/.htm files")
    if not path.is_file():
        raise InvalidInput(f"source: no file at {path}")
    if path.stat().st_size > MAX_PAGE_BYTES:
        raise InvalidInput(f"source: {path.name} is {path.stat().st_size:,} bytes; a product "
                           f"page is at most {MAX_PAGE_BYTES:,} bytes")
    page = path.read_bytes().decode("utf-8", errors="replace")
    real = path.resolve()
    return ProductPage(source=str(real), facts=read_page(page, real.as_uri()), saved_file=real)


def _local_image(url: str, page_file: Path) -> Path:
    """A saved page's image (a file:// URL from its relative link): the file, if it is an
    image inside the page's folder (symlinks resolved); PathNotAllowed otherwise."""
    target = Path(unquote(urlsplit(url).path)).resolve()
    folder = page_file.parent
    if folder not in target.parents:
        raise PathNotAllowed(f"product image {target.name!r} is outside the saved page's folder "
                         f"({folder}); a saved page's images are read from beside it only")
    if target.suffix.lower() not in _IMAGE_SUFFIXES or not target.is_file():
        raise InvalidInput(f"product image {target.name!r}: no PNG, JPEG or WebP file there")
    if target.stat().st_size > MAX_IMAGE_BYTES:
        raise InvalidInput(f"product image {target.name!r} is over {MAX_IMAGE_BYTES:,} bytes")
    return target


def _checked_image(path: Path) -> str:
    """The image's format ('png', 'jpeg', 'webp') if Pillow decodes it, else InvalidInput."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.load()
            kind = (im.format or "").lower()
    except Exception as exc:
        raise InvalidInput(f"product image {path.name!r} does not decode as an image "
                           f"({type(exc).__name__})") from None
    if kind not in ("png", "jpeg", "webp"):
        raise InvalidInput(f"product image {path.name!r} is {kind or 'unknown'}; allowed are "
                           "PNG, JPEG and WebP")
    return kind


def fetch_images(page: ProductPage, folder: Path, *, limit: int = 4,
                 allowed_hosts: Iterable[str] | None = None) -> tuple[list[FetchedImage],
                                                                     list[str]]:
    """Up to `limit` of the page's images into `folder` as image-1.jpg, image-2.png, …, each
    checked to decode. Returns (the images kept, why each other one was skipped): one bad
    image never costs the others. A saved page's file:// images come from its folder only;
    a page from the web may not name local files."""
    kept: list[FetchedImage] = []
    skipped: list[str] = []
    hosts = _hosts(allowed_hosts)
    folder.mkdir(parents=True, exist_ok=True)
    for url in page.facts.images:
        if len(kept) >= limit:
            break
        out = folder / f"image-{len(kept) + 1}.part"
        try:
            if urlsplit(url).scheme == "file":
                if page.saved_file is None:
                    raise PathNotAllowed("a page from the web cannot name a local file")
                shutil.copyfile(_local_image(url, page.saved_file), out)
            else:
                run_sync(download(url, out, max_bytes=MAX_IMAGE_BYTES, content_types=IMAGE_TYPES,
                                  allowed_hosts=hosts))
            kind = _checked_image(out)
            final = out.with_suffix(".jpg" if kind == "jpeg" else f".{kind}")
            os.replace(out, final)
            kept.append(FetchedImage(url=url if urlsplit(url).scheme != "file" else
                                     Path(urlsplit(url).path).name, path=final))
        except (InvalidInput, DownloadError) as exc:
            out.unlink(missing_ok=True)
            skipped.append(f"{public_url(url) if urlsplit(url).scheme != 'file' else url}: "
                           f"{exc}")
    return kept, skipped
