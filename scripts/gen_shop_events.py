"""Write examples/shop/events/sample.jsonl: a generated but realistic day of the Fernhill shop.

Segment track / page / identify calls, one per line, sorted by time: three hand-written visitors
first (Ada, Ben, Cy: the worked case of docs/signals.md), then a seeded crowd of anonymous visitors on
mobile and desktop, some of whom log in, fill carts, abandon them or buy. Deterministic: the same
seed writes the same bytes.

    python scripts/gen_shop_events.py [--seed 14] [--visitors 330] [--out PATH]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import uuid
from pathlib import Path

DAY = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
SITE = "https://shop.example.com"
PRODUCTS = [
    ("p-101", "Linen apron", "Kitchen", 38), ("p-102", "Cast iron skillet", "Kitchen", 64),
    ("p-103", "Oak cutting board", "Kitchen", 45), ("p-104", "Stoneware mug set", "Tableware", 42),
    ("p-105", "Copper kettle", "Kitchen", 89), ("p-106", "Wool throw", "Home", 120),
    ("p-107", "Ceramic vase", "Home", 55), ("p-108", "Chef's knife", "Kitchen", 135),
    ("p-109", "Table linen set", "Tableware", 72), ("p-110", "Bread bin", "Kitchen", 49),
    ("p-111", "Herb planter", "Home", 29), ("p-112", "Dutch oven", "Kitchen", 159),
]
GUIDES = [("Seasoning cast iron", "/guides/cast-iron"), ("Caring for linen", "/guides/linen")]
FIRST = ["Dana", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jun", "Kai", "Lea", "Mo", "Nia", "Oli", "Pia", "Raf"]
MOBILE = {"type": "mobile", "ua": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) Mobile/15E148"}
DESKTOP = {"type": "desktop", "ua": "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) Firefox/125.0"}


class Writer:
    def __init__(self, rng: random.Random):
        self.rng = rng
        self.lines: list[tuple[float, int, dict]] = []

    def _base(self, kind: str, t: float, anon: str, user: str | None, device: dict) -> dict:
        msg = {"type": kind, "messageId": str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
               "anonymousId": anon, "timestamp": _iso(t),
               "context": {"userAgent": device["ua"], "device": {"type": device["type"]}}}
        if user:
            msg["userId"] = user
        return msg

    def add(self, t: float, msg: dict) -> None:
        self.lines.append((t, len(self.lines), msg))

    def page(self, t, anon, user, device, path, title, time_on_page, referrer=""):
        m = self._base("page", t, anon, user, device)
        m["name"] = title
        m["properties"] = {"title": title, "time_on_page": time_on_page}
        m["context"]["page"] = {"url": SITE + path, "path": path, "referrer": referrer}
        self.add(t, m)

    def track(self, t, anon, user, device, event, props):
        m = self._base("track", t, anon, user, device)
        m["event"], m["properties"] = event, props
        self.add(t, m)

    def identify(self, t, anon, user, device, traits):
        m = self._base("identify", t, anon, user, device)
        m["traits"] = traits
        self.add(t, m)


def _iso(t: float) -> str:
    return (DAY + dt.timedelta(seconds=t)).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(round(t * 1000)) % 1000:03d}Z"


def _product(p):
    pid, name, cat, price = p
    return {"product_id": pid, "product_name": name, "product_category": cat, "price": price,
            "product_url": f"{SITE}/p/{pid}", "product_image": f"https://images.example.com/{pid}.jpg"}


def _cart(anon: str, value: float) -> dict:
    return {"cart_value": round(value, 2), "cart_url": f"{SITE}/cart/{anon[:8]}"}


def worked_case(w: Writer) -> None:
    """Ada: 7 minutes on product pages, score >= 90, high intent; Ben: a 3-minute visit, score 50;
    Cy: buys."""
    h = 3600
    ada, dev = "anon-ada-0001", DESKTOP
    w.page(9 * h, ada, None, dev, "/", "Home", 20, "https://www.google.com/")
    w.identify(9 * h + 30, ada, "ada", dev, {"email": "ada@example.com", "first_name": "Ada", "tier": "silver"})
    for i, p in enumerate([PRODUCTS[7], PRODUCTS[11], PRODUCTS[7], PRODUCTS[5]]):
        w.track(9 * h + 60 + i * 90, ada, "ada", dev, "product_viewed", _product(p))
    w.page(9 * h + 400, ada, "ada", dev, "/p/p-108/reviews", "Chef's knife reviews", 250)
    w.track(9 * h + 420, ada, "ada", dev, "cart_updated", _cart(ada, 135))
    w.track(9 * h + 450, ada, "ada", dev, "cart_updated", _cart(ada, 294))
    ben, dev = "anon-ben-0002", MOBILE
    w.page(14 * h, ben, None, dev, "/p/p-104", "Stoneware mug set", 40, "https://www.instagram.com/")
    w.track(14 * h + 20, ben, None, dev, "product_viewed", _product(PRODUCTS[3]))
    w.identify(14 * h + 60, ben, "ben", dev, {"email": "ben@example.com", "first_name": "Ben"})
    w.track(14 * h + 90, ben, "ben", dev, "content_downloaded",
            {"content_title": GUIDES[1][0], "content_url": SITE + GUIDES[1][1]})
    w.track(14 * h + 150, ben, "ben", dev, "cart_updated", _cart(ben, 84))
    cy, dev = "anon-cy-0003", DESKTOP
    w.identify(11 * h, cy, "cy", dev, {"email": "cy@example.com", "first_name": "Cy", "tier": "gold"})
    w.track(11 * h + 10, cy, "cy", dev, "product_viewed", _product(PRODUCTS[1]))
    w.track(11 * h + 100, cy, "cy", dev, "cart_updated", _cart(cy, 64))
    w.track(11 * h + 160, cy, "cy", dev, "checkout_started", _cart(cy, 64))
    w.track(11 * h + 280, cy, "cy", dev, "placed_order", {"order_id": "F-20240501-0003", "total": 64})


def crowd(w: Writer, visitors: int) -> None:
    rng = w.rng
    for n in range(visitors):
        anon = f"anon-{uuid.UUID(int=rng.getrandbits(128), version=4).hex[:12]}"
        user = None
        known = rng.random() < 0.45  # has an account and logs in at some point
        uid, email = f"u{1000 + n}", f"{rng.choice(FIRST).lower()}.{1000 + n}@example.net"
        cart: list[int] = []
        for _ in range(rng.choice([1, 1, 1, 2, 2, 3])):
            device = MOBILE if rng.random() < 0.55 else DESKTOP
            t = rng.uniform(6 * 3600, 23.2 * 3600)
            referrer = rng.choice(["", "https://www.google.com/", "https://www.instagram.com/", "email"])
            w.page(t, anon, user, device, "/", "Home", rng.randint(5, 60), referrer)
            for _ in range(rng.randint(3, 14)):
                t += rng.expovariate(1 / 45)
                roll = rng.random()
                if known and user is None and roll < 0.08:
                    user = uid
                    w.identify(t, anon, user, device, {"email": email, "first_name": email.split(".")[0].title(),
                                                       **({"tier": "gold"} if rng.random() < 0.15 else {})})
                elif roll < 0.45:
                    p = rng.choice(PRODUCTS)
                    w.page(t, anon, user, device, f"/p/{p[0]}", p[1], rng.choice([15, 40, 90, 180, 260, 320]))
                    w.track(t + 0.2, anon, user, device, "product_viewed", _product(p))
                elif roll < 0.75:
                    w.page(t, anon, user, device, rng.choice(["/kitchen", "/home", "/tableware", "/about"]),
                           "Collection", rng.randint(5, 200))
                elif roll < 0.88:
                    cart.append(rng.choice(PRODUCTS)[3])
                    w.track(t, anon, user, device, "cart_updated", _cart(anon, sum(cart)))
                elif roll < 0.92:
                    g = rng.choice(GUIDES)
                    w.track(t, anon, user, device, "content_downloaded",
                            {"content_title": g[0], "content_url": SITE + g[1]})
                elif cart and roll < 0.97:
                    w.track(t, anon, user, device, "checkout_started", _cart(anon, sum(cart)))
                    if rng.random() < 0.7:
                        if user is None and known:
                            user = uid
                            w.identify(t + 30, anon, user, device, {"email": email})
                        w.track(t + 120, anon, user, device, "placed_order",
                                {"order_id": f"F-{n:05d}-{len(cart)}", "total": sum(cart)})
                        cart = []
                        t += 120


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=14)
    ap.add_argument("--visitors", type=int, default=330)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "examples/shop/events/sample.jsonl")
    args = ap.parse_args()
    w = Writer(random.Random(args.seed))
    worked_case(w)
    crowd(w, args.visitors)
    w.lines.sort(key=lambda x: (x[0], x[1]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", encoding="utf-8", newline="\n") as f:
        for _, _, msg in w.lines:
            f.write(json.dumps(msg, separators=(",", ":")) + "\n")
    print(f"wrote {len(w.lines)} events of {args.visitors + 3} visitors to {args.out}")


if __name__ == "__main__":
    main()
