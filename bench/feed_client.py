#!/usr/bin/env python3
"""Many readers of GET /api/tickets/events at once, for `bench.py feed` (which runs it
pinned to the load core). Python 3 with no extra packages: raw asyncio connections, one
HTTP/1.1 request each (`Connection: close`, so that a stream the server ends is a closed
socket), the bytes read and discarded, counting bytes and `ticket` events and keeping the
last event id.

    feed_client.py --url http://127.0.0.1:3000 --streams 1000 [--paused] [--resume]
                   [--ids-file FILE --subscribe 20]

Once every stream has its 200 it prints one JSON line, then obeys commands on stdin, one a
line, answering each with one JSON line:

    stop      close every stream; answers the totals and each stream's figures
    drain     (--paused) start reading the paused streams until 3 s pass with no byte;
              answers how many the server had ended
    resume K  reconnect K of the streams the server ended with their Last-Event-ID, read
              their catch-up until 3 s pass with no byte, close them; answers the figures

--paused: each stream stops reading as soon as its response head is in (the kernel's
buffers fill, then the server's), until `drain`. --resume: a stream the server ends is
reconnected after --retry-ms with its Last-Event-ID, as a browser's EventSource does.
--subscribe N (with --ids-file, one ticket id a line): each stream subscribes like the page
does, to N ids chosen at random from the file plus new listings
(`?ids=…&listings=new`), keeping its query when it reconnects.
"""

import argparse
import asyncio
import json
import random
import resource
import sys
import time
import urllib.parse

EVENT = b"event: ticket\n"


def raise_fd_limit(needed):
    """Raises the soft limit on open files to `needed` (up to the hard limit); answers the
    (old, new) soft limits."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        new = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        return soft, new
    return soft, soft


class Stream(asyncio.Protocol):
    """One reader. Counts what it reads; `ended_by_server` once the server closes it."""

    def __init__(self, client, last_id=None, query=None):
        self.client, self.last_id = client, last_id
        self.query = client.query() if query is None else query
        self.transport = None
        self.head, self.status = b"", None
        self.bytes = self.events = 0
        self.tail = self.id_tail = b""
        self.ended_by_server = False
        self.opened = client.loop.create_future()
        self.closed = client.loop.create_future()

    def connection_made(self, transport):
        self.transport = transport
        resume = f"Last-Event-ID: {self.last_id}\r\n" if self.last_id is not None else ""
        transport.write((f"GET /api/tickets/events{self.query} HTTP/1.1\r\nHost: {self.client.host}\r\n"
                         f"Accept: text/event-stream\r\nConnection: close\r\n{resume}\r\n").encode())

    def data_received(self, data):
        if self.status is None:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return
            self.status = int(self.head.split(b" ", 2)[1])
            data, self.head = self.head[end + 4:], b""
            if not self.opened.done():
                self.opened.set_result(self.status)
            if self.client.paused and self.status == 200:
                self.transport.pause_reading()
        self.client.last_byte = time.monotonic()
        self.bytes += len(data)
        # A match needs at least one new byte: the tail kept is one shorter than the pattern.
        window = self.tail + data
        self.events += window.count(EVENT)
        self.tail = window[-(len(EVENT) - 1):]
        ids = self.id_tail + data
        at = ids.rfind(b"id: ")
        while at >= 0:
            end = ids.find(b"\n", at)
            if end > 0:
                self.last_id = int(ids[at + 4:end])
                break
            at = ids.rfind(b"id: ", 0, at)
        self.id_tail = ids[-32:]

    def eof_received(self):
        if not self.client.stopping:
            self.ended_by_server = True
        return False

    def connection_lost(self, exc):
        if not self.opened.done():
            self.opened.set_result(None)
        if not self.closed.done():
            self.closed.set_result(None)
        if self.ended_by_server and self.client.resume and not self.client.stopping:
            self.client.reconnect(self)


class Client:
    def __init__(self, args):
        url = urllib.parse.urlsplit(args.url)
        self.host, self.port = url.hostname, url.port or 80
        self.paused, self.resume = args.paused, args.resume
        self.retry = args.retry_ms / 1000
        self.loop = asyncio.get_running_loop()
        self.stopping = False
        self.last_byte = time.monotonic()
        self.slots = []        # one list per stream: its connections, the last one current
        self.connects = asyncio.Semaphore(64)
        self.ids, self.subscribe = [], args.subscribe
        if args.subscribe:
            with open(args.ids_file) as ids:
                self.ids = [line.strip() for line in ids if line.strip()]

    def query(self):
        """A new stream's query: every change, or --subscribe random ids and new listings."""
        if not self.subscribe:
            return ""
        return f"?ids={','.join(random.sample(self.ids, self.subscribe))}&listings=new"

    async def open(self, stream):
        async with self.connects:
            try:
                await self.loop.create_connection(lambda: stream, self.host, self.port)
            except OSError:
                for future in (stream.opened, stream.closed):
                    if not future.done():
                        future.set_result(None)
                return None
        return await stream.opened

    def reconnect(self, old):
        slot = next(s for s in self.slots if s[-1] is old)
        new = Stream(self, old.last_id, old.query)
        slot.append(new)

        async def later():
            await asyncio.sleep(self.retry)
            if not self.stopping:
                await self.open(new)
        self.loop.create_task(later())

    async def quiet(self, seconds, limit):
        """Waits until `seconds` pass with no byte read, at most `limit` seconds."""
        started = time.monotonic()
        self.last_byte = time.monotonic()
        while time.monotonic() - self.last_byte < seconds and time.monotonic() - started < limit:
            await asyncio.sleep(0.2)
        return time.monotonic() - started


def totals(slots):
    each = [sum(s.events for s in slot) for slot in slots]
    sizes = [sum(s.bytes for s in slot) for slot in slots]
    return {"streams": len(slots), "events": sum(each), "bytes": sum(sizes),
            "events_per_stream": sorted(each), "bytes_per_stream": sorted(sizes),
            "reconnects": sum(len(slot) - 1 for slot in slots),
            "ended_by_server": sum(s.ended_by_server for slot in slots for s in slot)}


async def run(args):
    client = Client(args)
    started_cpu = time.process_time()
    for _ in range(args.streams):
        client.slots.append([Stream(client)])
    statuses = await asyncio.gather(*(client.open(slot[0]) for slot in client.slots))
    opened_at = time.monotonic()
    opened = sum(1 for s in statuses if s == 200)
    print(json.dumps({"opened": opened, "failed": {str(s): statuses.count(s) for s in set(statuses) if s != 200},
                      "open_cpu_s": time.process_time() - started_cpu}), flush=True)
    cpu_at_open = time.process_time()
    while True:
        command = (await client.loop.run_in_executor(None, sys.stdin.readline)).split()
        if not command or command[0] == "stop":
            break
        if command[0] == "drain":
            for slot in client.slots:
                if slot[-1].transport is not None and not slot[-1].closed.done():
                    slot[-1].transport.resume_reading()
            client.paused = False
            took = await client.quiet(3, 120)
            ended = sum(slot[-1].ended_by_server for slot in client.slots)
            print(json.dumps({"drained_s": round(took, 1), "ended_by_server": ended,
                              "still_open": sum(not slot[-1].closed.done() for slot in client.slots),
                              **totals(client.slots)}), flush=True)
        elif command[0] == "resume":
            ended = [slot for slot in client.slots if slot[-1].ended_by_server][: int(command[1])]
            resumed = [Stream(client, slot[-1].last_id, slot[-1].query) for slot in ended]
            begun = time.monotonic()
            statuses = await asyncio.gather(*(client.open(s) for s in resumed))
            took = await client.quiet(3, 120)
            for s in resumed:
                if s.transport is not None:
                    s.transport.close()
            print(json.dumps({"resumed": len(resumed), "ok": statuses.count(200),
                              "seconds": round(time.monotonic() - begun, 1), "read_s": round(took, 1),
                              "events": [s.events for s in resumed], "bytes": sum(s.bytes for s in resumed)}),
                  flush=True)
    client.stopping = True
    wall = time.monotonic() - opened_at
    cpu = time.process_time() - cpu_at_open
    for slot in client.slots:
        if slot[-1].transport is not None:
            slot[-1].transport.close()
    print(json.dumps({"seconds": round(wall, 2), "cpu_s": round(cpu, 2), **totals(client.slots)}), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True)
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--paused", action="store_true")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--retry-ms", type=int, default=1000)
    parser.add_argument("--ids-file", help="ticket ids, one a line, for --subscribe")
    parser.add_argument("--subscribe", type=int, default=0,
                        help="each stream subscribes to this many random ids plus new listings")
    args = parser.parse_args()
    old, new = raise_fd_limit(args.streams * 2 + 64)
    if new != old:
        print(f"feed_client: raised the open-file limit from {old} to {new}", file=sys.stderr)
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
