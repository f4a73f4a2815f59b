"""Benchmark 3: the home timeline of a user following 300 of 2,000 authors (100,000 posts).

Seeded with bulk inserts: 2,000 remote authors with 50 posts each, the local
``reader`` following 300 of them, and the reader's ``TimelineEntry`` rows for
those authors' 15,000 posts (what fan-out on write would have left). One client
asks for the top page (``limit=40``) and a deep page (``max_id`` of the
10,000th newest entry), one request at a time over a keep-alive connection.

Endpoint: ``GET /api/v1/timelines/home`` (Mastodon client API, bearer token)
when the node serves it; otherwise the web page ``GET /home`` (session cookie).
The figures say which was measured. Baseline: the no-op server's
``GET /api/v1/timelines/home`` (an empty JSON list) with the same client.
"""

from __future__ import annotations

import datetime as dt
import http.client
import time
from typing import Any

from bench.common import BenchNode, Figure, NoopServer, Options, percentile

AUTHORS = 2000
POSTS_PER_AUTHOR = 50
FOLLOWED = 300
DEEP_ENTRY = 10_000
PASSWORD = "bench-password"
# The API allows 300 requests per 5 minutes per token (Mastodon's default).
TOKENS = 24
TEXT = (
    "<p>Notes from the {n}th planning meeting: we agreed on the rollout order, the support "
    "team gets the new dashboards first, and the documentation is due next sprint.</p>"
)


async def seed(node: BenchNode) -> tuple[int, int]:
    """Returns (reader id, status id of the 10,000th newest entry of its timeline)."""
    from node.ids import new_id
    from node.models import Account, Follow, Post, TimelineEntry
    from node.services.accounts import create_local_account
    from node.site import Site

    node.activate()
    reader = await create_local_account(Site(domain=node.domain, scheme="http"), "reader", PASSWORD)
    domain = "authors.example"
    now = dt.datetime.now(dt.UTC)
    await Account.bulk_create(
        [
            Account(username=f"w{i}", domain=domain, uri=f"https://{domain}/users/w{i}",
                    inbox_url=f"https://{domain}/users/w{i}/inbox", display_name=f"Writer {i}",
                    fetched_at=now)
            for i in range(AUTHORS)
        ],
        batch_size=1000,
    )  # fmt: skip
    authors = await Account.filter(domain=domain).order_by("username").values_list("id", flat=True)
    followed = set(authors[:: AUTHORS // FOLLOWED][:FOLLOWED])
    # Posts over the last 30 days, interleaved between authors, ids ordered by time.
    start_ms = int((now - dt.timedelta(days=30)).timestamp() * 1000)
    step_ms = 30 * 86400 * 1000 // (AUTHORS * POSTS_PER_AUTHOR)
    posts: list[Post] = []
    entries: list[TimelineEntry] = []
    for n in range(AUTHORS * POSTS_PER_AUTHOR):
        author_id = authors[n % AUTHORS]
        at_ms = start_ms + n * step_ms
        post_id = new_id(at_ms)
        posts.append(
            Post(id=post_id, uri=f"https://{domain}/posts/{n}", author_id=author_id, local=False,
                 visibility="public", label="public", content_html=TEXT.format(n=n),
                 created_at=dt.datetime.fromtimestamp(at_ms / 1000, dt.UTC))
        )  # fmt: skip
        if author_id in followed:
            entries.append(
                TimelineEntry(
                    id=new_id(at_ms), owner_id=reader.id, post_id=post_id, status_id=post_id
                )
            )
    for start in range(0, len(posts), 5000):
        await Post.bulk_create(posts[start : start + 5000], batch_size=1000)
    await TimelineEntry.bulk_create(entries, batch_size=1000)
    await Follow.bulk_create(
        [Follow(follower_id=reader.id, followee_id=a, state="accepted") for a in followed],
        batch_size=1000,
    )
    newest_first = sorted((e.status_id for e in entries), reverse=True)
    return reader.id, newest_first[DEEP_ENTRY]


def timings(port: int, path: str, headers: list[dict[str, str]], count: int) -> list[float]:
    """Seconds per request for ``count`` sequential GETs on one keep-alive connection.

    The header sets are used in turn (several API tokens stay under the per-token rate limit).
    """
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    samples = []
    try:
        for n in range(count):
            started = time.perf_counter()
            conn.request("GET", path, headers=headers[n % len(headers)])
            response = conn.getresponse()
            response.read()
            samples.append(time.perf_counter() - started)
            if response.status != 200:
                raise RuntimeError(f"GET {path} answered {response.status}")
    finally:
        conn.close()
    return samples


async def endpoint(node: BenchNode, reader_id: int) -> tuple[str, list[dict[str, str]]]:
    """The API path with a bearer token when the node serves it, else the web page with a cookie."""
    from node.models import Account
    from node.services.tokens import issue_token

    node.activate()
    reader = await Account.get(id=reader_id)
    headers = []
    for _ in range(TOKENS):
        secret, _ = await issue_token(reader, None, "read")
        headers.append({"Authorization": f"Bearer {secret}", "Host": node.domain})
    conn = http.client.HTTPConnection("127.0.0.1", node.port, timeout=30)
    conn.request("GET", "/api/v1/timelines/home?limit=1", headers=headers[0])
    status = conn.getresponse().status
    conn.close()
    if status == 200:
        return "/api/v1/timelines/home", headers
    from node.demo import Browser

    browser = Browser(node.url)
    await browser.sign_in("reader", PASSWORD)
    cookie = "; ".join(f"{k}={v}" for k, v in browser.http.cookies.items())
    await browser.close()
    return "/home", [{"Cookie": cookie, "Host": node.domain}]


async def run_timelines(options: Options) -> list[Figure]:
    count = 100 if options.quick else 300
    node = BenchNode("timelines", options.database)
    noop = NoopServer()
    rows: list[dict[str, Any]] = []
    try:
        await node.create()
        started = time.monotonic()
        reader_id, deep_max_id = await seed(node)
        print(f"  seeded {AUTHORS * POSTS_PER_AUTHOR} posts in {time.monotonic() - started:.0f} s")
        await node.start()
        await noop.start()
        path, headers = await endpoint(node, reader_id)
        top, deep = f"{path}?limit=40", f"{path}?limit=40&max_id={deep_max_id}"
        print(f"  measuring GET {path}")
        for run in range(options.runs):
            timings(node.port, top, headers, 20)  # warm-up
            result = {
                "top": timings(node.port, top, headers, count),
                "deep": timings(node.port, deep, headers, count),
                "noop": timings(noop.port, "/api/v1/timelines/home?limit=40", [{}], count),
            }
            rows.append(
                {k: (percentile(v, 50) * 1000, percentile(v, 99) * 1000) for k, v in result.items()}
            )
            print(
                f"  run {run + 1}: "
                + ", ".join(f"{k} p50 {a:.2f} ms p99 {b:.2f} ms" for k, (a, b) in rows[-1].items())
            )
    finally:
        noop.stop()
        await node.close()

    def col(key: str, index: int) -> list[float]:
        return [row[key][index] for row in rows]

    name = "timelines"
    note = f"GET {path}; {count} sequential requests per run at one client"
    figures = []
    for page, label in (("top", "top page"), ("deep", "deep page (max_id)")):
        figures += [
            Figure(name, f"home {label} p50", "ms", col(page, 0),
                   "no-op p50", col("noop", 0), note=note),
            Figure(name, f"home {label} p99", "ms", col(page, 1), "no-op p99", col("noop", 1),
                   "≤ 2 x baseline p99", target_ratio_max=2.0, note=note),
        ]  # fmt: skip
    return figures
