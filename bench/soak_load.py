"""Ticket API load for the soak: an open-loop ~N req/s of ticket reads and writes, own process.

    python bench/soak_load.py --base http://127.0.0.1:8081 --token-file TOKEN \
        --rate 50 --duration-s 1800 --out load.jsonl

It opens a handful of installation tickets of its own (``Idempotency-Key``, retried until
central answers), then sends requests on a fixed schedule (open loop: a slow answer does not
slow the schedule down, so latency is measured honestly): 40 % ``GET /tickets/{id}``, 30 %
``GET /tickets`` (a search page), 30 % ``POST /tickets/{id}/comments`` with a unique text.
Every request becomes one JSON line ``{"t", "op", "status", "ms", "ticket", "text"}``
(status 0 = no answer: connection refused or reset while central was killed). SIGTERM ends
the run after the requests in flight.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import signal
import sys
import time
from pathlib import Path
from typing import Any, TextIO

import httpx

TICKETS = 8  # tickets the load works on
TIMEOUT_S = 30.0
SHUTDOWN_GRACE_S = 5.0


async def _open_tickets(client: httpx.AsyncClient, district: str, deadline: float) -> list[str]:
    ids: list[str] = []
    for n in range(TICKETS):
        body = {"kind": "installation", "district": district, "title": f"soak load {n}"}
        while True:
            try:
                response = await client.post(
                    "/api/v1/tickets", json=body, headers={"Idempotency-Key": f"soak-load-{n}"}
                )
                if response.status_code in (200, 201):
                    ids.append(response.json()["id"])
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("soak_load: central never accepted the load's tickets")
            await asyncio.sleep(1.0)  # central is starting or was killed: ask again
    return ids


async def _one(
    client: httpx.AsyncClient, op: str, ticket: str, text: str, sink: TextIO, started: float
) -> None:
    t0 = time.perf_counter()
    status = 0
    try:
        if op == "read":
            response = await client.get(f"/api/v1/tickets/{ticket}")
        elif op == "search":
            response = await client.get(
                "/api/v1/tickets", params={"limit": 20, "kind": "installation"}
            )
        else:
            response = await client.post(f"/api/v1/tickets/{ticket}/comments", json={"text": text})
        status = response.status_code
    except httpx.HTTPError:
        status = 0
    ms = (time.perf_counter() - t0) * 1000.0
    record: dict[str, Any] = {
        "t": round(started, 3),
        "op": op,
        "status": status,
        "ms": round(ms, 2),
        "ticket": ticket,
    }
    if op == "write":
        record["text"] = text
    sink.write(json.dumps(record) + "\n")


async def run(args: argparse.Namespace) -> int:
    token = Path(args.token_file).read_text(encoding="utf-8").strip()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    rng = random.Random(args.seed)
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=16)
    # Line-buffered: a generator killed at the end (stuck answers) keeps every record so far.
    with Path(args.out).open("w", encoding="utf-8", buffering=1) as sink:
        async with httpx.AsyncClient(
            base_url=args.base,
            headers={"Authorization": f"Bearer {token}"},
            timeout=TIMEOUT_S,
            limits=limits,
        ) as client:
            deadline = time.monotonic() + args.duration_s
            tickets = await _open_tickets(client, args.district, deadline)
            sink.write(json.dumps({"tickets": tickets}) + "\n")
            tasks: set[asyncio.Task[None]] = set()
            period = 1.0 / args.rate
            next_at = time.monotonic()
            n = 0
            while time.monotonic() < deadline and not stop.is_set():
                roll = rng.random()
                op = "read" if roll < 0.4 else "search" if roll < 0.7 else "write"
                ticket = rng.choice(tickets)
                n += 1
                text = f"soak comment {args.seed}-{n}"
                task = asyncio.create_task(_one(client, op, ticket, text, sink, time.time()))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                next_at += period
                delay = next_at - time.monotonic()
                if delay > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=delay)
            if tasks:  # a short grace for answers in flight, then give up on them
                _done, pending = await asyncio.wait(tasks, timeout=SHUTDOWN_GRACE_S)
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="central's base URL")
    parser.add_argument("--token-file", required=True, help="file holding an operator token")
    parser.add_argument("--district", default="d01")
    parser.add_argument("--rate", type=float, default=50.0, help="requests per second")
    parser.add_argument("--duration-s", type=float, required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", required=True, help="JSON lines, one per request")
    return asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
