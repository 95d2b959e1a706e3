"""From a product page to a brief (plan/product_page.py, Project.from_product_page).

The pages in tests/fixtures/product_pages are shaped like real shops' pages: a Shopify Dawn
theme product (JSON-LD ProductGroup with variants, OpenGraph price tags), a WooCommerce
Storefront product on sale (JSON-LD @graph, a ListPrice price specification) and a page with
microdata only, saved by a browser with its image in a `_files/` folder. A URL is served by
a shop double on 127.0.0.1 that answers the page and its images as a CDN would."""

from __future__ import annotations

import http.server
import io
import json
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

import nbvideo as nv
from nbvideo.errors import InvalidInput, ProductImageSkipped, ProjectExists
from nbvideo.model.brief_facts import analyze_brief
from nbvideo.plan.product_page import ProductFacts, brief_text, fetch_page, read_page
from nbvideo.providers.download import URLNotAllowed

PAGES = Path(__file__).parent / "fixtures" / "product_pages"
SHOPIFY_CDN = "https://northpeak-outfitters.myshopify.com/cdn/shop/files/"


def _jpeg(colour: tuple[int, int, int], size: tuple[int, int] = (400, 300)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "JPEG")
    return buf.getvalue()


class _Shop(http.server.BaseHTTPRequestHandler):
    """The shop and its CDN: routes -> (status, content type, body)."""

    routes: dict[str, tuple[int, str, bytes]] = {}
    hits: list[str] = []

    def do_GET(self) -> None:
        self.hits.append(self.path)
        status, ctype, body = self.routes.get(self.path, (404, "text/plain", b"not found"))
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def shop() -> Iterator[str]:
    """The Shopify page served from 127.0.0.1, its CDN links pointing at the same double;
    the top view of the shoe is missing (404) and one 'image' is an HTML error page."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Shop)
    base = f"http://127.0.0.1:{server.server_port}"
    page = (PAGES / "shopify-dawn.html").read_text().replace(
        SHOPIFY_CDN.replace("/", "\\/"), f"{base}/cdn/".replace("/", "\\/")).replace(
        SHOPIFY_CDN, f"{base}/cdn/").replace(
        "http://northpeak-outfitters.myshopify.com/cdn/shop/files/", f"{base}/cdn/")
    _Shop.routes = {
        "/products/ridgeline": (200, "text/html; charset=utf-8", page.encode()),
        "/cdn/ridgeline-side.jpg?v=1717171717&width=1920": (200, "image/jpeg",
                                                           _jpeg((40, 70, 90))),
        "/cdn/ridgeline-side.jpg?v=1717171717": (200, "image/jpeg", b"<html>oops</html>"),
        "/products/sneaky": (200, "text/html", b'<script type="application/ld+json">{"@type": '
                             b'"Product", "name": "Cap", "image": "file:///etc/hostname"}</script>'),
    }
    _Shop.hits = []
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield base
    finally:
        server.shutdown()
        server.server_close()


# --------------------------------------------------------------------------- reading pages

def test_shopify_product_group_gives_name_brand_price_and_every_variant_image() -> None:
    facts = fetch_page(PAGES / "shopify-dawn.html").facts
    assert facts.name == "Ridgeline Waterproof Trail Shoe"  # the group's, not a variant's
    assert facts.brand == "Northpeak"
    assert (facts.price, facts.currency, facts.price_from) == (119.0, "USD", False)
    assert facts.availability == "in stock"
    assert [u.rsplit("/", 1)[1] for u in facts.images] == [
        "ridgeline-side.jpg?v=1717171717&width=1920", "ridgeline-top.jpg?v=1717171717&width=1920",
        "ridgeline-side.jpg?v=1717171717"]
    assert facts.found_in == ["json-ld", "opengraph"]


def test_woocommerce_sale_reads_the_list_price_and_writes_the_offer() -> None:
    facts = fetch_page(PAGES / "woocommerce-storefront.html").facts
    assert facts.name == "Aeropress Travel Grinder"
    assert (facts.price, facts.list_price, facts.currency) == (44.0, 59.0, "GBP")
    assert facts.discount_pct == 25
    assert facts.offer == "25% off: £44, was £59"
    assert facts.found_in == ["json-ld"]  # its og:type is 'article': no product there


def test_microdata_only_page_with_its_image_beside_it() -> None:
    page = fetch_page(PAGES / "microdata-lamp.html")
    facts = page.facts
    assert (facts.name, facts.brand, facts.price, facts.currency) == (
        "Orbit Desk Lamp", "Lumen", 89.0, "EUR")
    assert (facts.rating, facts.review_count) == (4.7, 212)
    assert facts.images == [(PAGES / "microdata-lamp_files" / "orbit-lamp.png").as_uri()]
    assert facts.found_in == ["microdata"]


def test_a_page_without_product_data_says_what_was_looked_for() -> None:
    with pytest.raises(InvalidInput) as err:
        fetch_page(PAGES / "no-product.html")
    msg = str(err.value)
    assert "no product data" in msg and "JSON-LD" in msg and "microdata" in msg
    assert "OpenGraph" in msg and "found json-ld (1 item), opengraph (1 item)" in msg


def test_opengraph_product_tags_alone_are_enough() -> None:
    page = """<html><head><meta property="og:type" content="product">
    <meta property="og:title" content="Volt Bottle &amp; Cap"><meta property="og:image" content="/b.png">
    <meta property="product:price:amount" content="24"><meta property="product:price:currency" content="usd">
    </head><body></body></html>"""
    facts = read_page(page, "https://volt.example/p/bottle")
    assert (facts.name, facts.price, facts.currency) == ("Volt Bottle & Cap", 24.0, "USD")
    assert facts.images == ["https://volt.example/b.png"]


@pytest.mark.parametrize("price", ['"NaN"', '"Infinity"', '"-5"', '"call us"', "true", '"1e400"'])
def test_a_price_that_is_not_a_price_is_left_out(price: str) -> None:
    page = ('<script type="application/ld+json">{"@type": ["Thing", "Product"], "name": "Cap",'
            f'"offers": {{"@type": "Offer", "price": {price}, "priceCurrency": "USD"}}}}</script>')
    facts = read_page(page, "https://x.example/")
    assert facts.name == "Cap" and facts.price is None and facts.offer is None


def test_aggregate_offer_is_a_from_price_and_text_is_cleaned() -> None:
    page = ('<script type="application/ld+json">{"@context": "https://schema.org", "@type": '
            '"http://schema.org/Product", "name": "Trail\\u0000 Sock <b>Pack</b>", '
            '"description": "<p>Merino &amp; nylon.</p>", "offers": {"@type": "AggregateOffer",'
            ' "lowPrice": "19.00", "highPrice": "29.00", "priceCurrency": "USD"}}</script>')
    facts = read_page(page, "https://x.example/")
    assert facts.name == "Trail Sock Pack" and facts.description == "Merino & nylon."
    assert facts.offer == "from $19"


def test_the_brief_names_the_product_where_the_planner_reads_it() -> None:
    for name in ("shopify-dawn", "woocommerce-storefront", "microdata-lamp"):
        facts = fetch_page(PAGES / f"{name}.html").facts
        text = brief_text(facts, 30)
        assert text.startswith(f"30-second ad for the {facts.name}")
        assert analyze_brief(text).product == facts.name
    sale = brief_text(ProductFacts(name="Grinder", price=44, list_price=59, currency="GBP"))
    assert sale == "Ad for the Grinder. Now 25% off: £44, was £59."


# --------------------------------------------------------------------------- making projects

@pytest.mark.slow
def test_a_saved_page_makes_a_project_with_its_image_as_the_product_reference(
        tmp_path: Path) -> None:
    saved = tmp_path / "saved"
    shutil.copytree(PAGES, saved)
    with nv.Project.from_product_page(saved / "microdata-lamp.html", tmp_path / "lamp",
                                      duration_s=15) as p:
        assert p.brief.text.startswith("15-second ad for the Orbit Desk Lamp, by Lumen:")
        assert "Price: €89." in p.brief.text and p.brief.duration_s == 15
        assert p.look is not None and p.look.product == "Orbit Desk Lamp"
        assert p.look.reference_image == "assets/product/image-1.png"
        with Image.open(p.path / p.look.reference_image) as im:
            assert im.size == (320, 320)
        record = json.loads((p.path / "assets/product/page.json").read_text())
        assert record["facts"]["price"] == 89.0 and record["images"][0]["url"] == "orbit-lamp.png"
        p.storyboard()
        assert len(p.scenes) >= 3
    with nv.Project.open(tmp_path / "lamp") as again:  # reopens with all of it
        assert again.look is not None and again.look.reference_image == "assets/product/image-1.png"


def test_a_url_goes_through_the_guarded_fetcher_and_skips_bad_images(
        shop: str, tmp_path: Path) -> None:
    with pytest.warns(ProductImageSkipped) as warned:
        p = nv.Project.from_product_page(f"{shop}/products/ridgeline", tmp_path / "shoe",
                                         allowed_hosts=["127.0.0.1"])
    with p:
        assert p.brief.text.startswith("Ad for the Ridgeline Waterproof Trail Shoe, by Northpeak")
        assert "Price: $119." in p.brief.text
        kept = sorted(f.name for f in (p.path / "assets/product").iterdir())
        assert kept == ["image-1.jpg", "page.json"]
        assert p.look is not None and p.look.reference_image == "assets/product/image-1.jpg"
    reasons = " | ".join(str(w.message) for w in warned)
    assert "ridgeline-top.jpg" in reasons and "404" in reasons  # missing on the CDN
    assert "does not decode as an image" in reasons  # an HTML page sent as image/jpeg
    assert not list(tmp_path.glob(".nbvideo-product-*"))


def test_a_private_address_is_refused_and_nothing_is_made(shop: str, tmp_path: Path) -> None:
    with pytest.raises(URLNotAllowed, match="only https"):
        nv.Project.from_product_page(f"{shop}/products/ridgeline", tmp_path / "shoe")
    assert _Shop.hits == [] and not (tmp_path / "shoe").exists()
    with pytest.raises(InvalidInput, match="file:// URL; allowed are https"):
        nv.Project.from_product_page("file:///etc/passwd", tmp_path / "x")


def test_a_page_from_the_web_cannot_name_a_local_file(shop: str, tmp_path: Path) -> None:
    with pytest.warns(ProductImageSkipped, match="a page from the web cannot name a local file"):
        p = nv.Project.from_product_page(f"{shop}/products/sneaky", tmp_path / "cap",
                                         allowed_hosts=["127.0.0.1"])
    with p:
        assert not list((p.path / "assets/product").glob("image-*"))


def test_a_saved_page_cannot_pull_files_from_outside_its_folder(tmp_path: Path) -> None:
    secret = tmp_path / "secret.png"
    Image.new("RGB", (8, 8)).save(secret)
    site = tmp_path / "site"
    site.mkdir()
    (site / "link.png").symlink_to(secret)
    images = json.dumps(["../secret.png", "link.png", secret.as_uri()])
    page = ('<script type="application/ld+json">{"@type": "Product", "name": "Lamp", '
            f'"image": {images}}}</script>')
    (site / "page.html").write_text(page)
    with pytest.warns(ProductImageSkipped) as warned:
        p = nv.Project.from_product_page(site / "page.html", tmp_path / "lamp")
    with p:
        assert not (p.path / "assets/product/image-1.png").exists()
        assert p.look is not None and p.look.reference_image is None
    assert len(warned) == 3
    assert all("outside the saved page's folder" in str(w.message) for w in warned)


def test_an_existing_project_is_never_changed(tmp_path: Path) -> None:
    with nv.Project.open(tmp_path / "lamp", brief="ad for a desk lamp") as p:
        before = (p.path / "project.json").read_bytes()
    with pytest.raises(ProjectExists, match="already a project"):
        nv.Project.from_product_page(PAGES / "microdata-lamp.html", tmp_path / "lamp")
    assert (tmp_path / "lamp" / "project.json").read_bytes() == before


@pytest.mark.parametrize("source, message", [
    ("no-product.html", "no product data"),
    ("missing.html", "no file at"),
    ("notes.txt", "is not a saved page"),
])
def test_bad_sources_make_nothing(tmp_path: Path, source: str, message: str) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    shutil.copy(PAGES / "no-product.html", tmp_path)
    with pytest.raises(InvalidInput, match=message):
        nv.Project.from_product_page(tmp_path / source, tmp_path / "p")
    assert not (tmp_path / "p").exists()


def test_an_oversize_saved_page_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.html"
    with big.open("wb") as f:
        f.truncate(6_000_000)
    with pytest.raises(InvalidInput, match="at most 5,000,000 bytes"):
        nv.Project.from_product_page(big, tmp_path / "p")


def test_in_a_workspace_the_product_photos_go_into_its_asset_library(tmp_path: Path) -> None:
    ws = tmp_path / "agency"
    nv.create_workspace(ws)  # you are its owner
    saved = tmp_path / "saved"
    shutil.copytree(PAGES, saved)
    with nv.Project.from_product_page(saved / "microdata-lamp.html", ws / "lamp") as p:
        record = json.loads((p.path / "assets/product/page.json").read_text())
        lib = nv.assets(ws)
        (asset,) = lib.search(tag="product")
        assert record["images"][0]["asset"] == asset.id
        assert "orbit-desk-lamp" in asset.tags and asset.kind == "image"
        assert "product page of Lumen" in asset.licence
        assert lib.path(asset).read_bytes() == (p.path / p.look.reference_image).read_bytes()
    # the same photo from a second project of the same product is the same asset
    with nv.Project.from_product_page(saved / "microdata-lamp.html", ws / "lamp-2"):
        assert len(nv.assets(ws).search(tag="product")) == 1
