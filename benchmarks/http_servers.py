"""Why the collector serves OTLP/HTTP on Hypercorn: it against uvicorn, both asyncio on h11.

Each server runs, in a process of its own, the same minimal ASGI app that reads the whole body
(as the OTLP receiver does) with the same 5 s timeouts (Hypercorn's read_timeout and
keep_alive_timeout, uvicorn's timeout_keep_alive). Measured, interleaved, two rounds:
  - POSTs of 50 KB per second on 4 keep-alive connections (the server's own ceiling);
  - 500 clients that send headers and 3 bytes of a 50 KB body, then nothing: whether a valid
    request is still served, the server's threads and RSS, and how many of the stalled
    connections the server has ended (a 408 or a close) 3 s after its timeout.

uvicorn is not a dependency: `pip install --target /tmp/uvpkg uvicorn click`, then

    python benchmarks/http_servers.py [--uvicorn-path /tmp/uvpkg]

Last line: RESULT hypercorn_posts_per_s=… uvicorn_posts_per_s=… hypercorn_stalled_closed=… uvicorn_stalled_closed=…
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import os
import socket
import subprocess
import sys
import threading
import time

TIMEOUT = 5
STALLED = 500
BODY = os.urandom(50_000)


async def app(scope, receive, send) -> None:
    if scope["type"] != "http":
        return
    n = 0
    while True:
        message = await receive()
        n += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": str(n).encode()})


def serve(kind: str, port: int) -> None:
    if kind == "hypercorn":
        from hypercorn.asyncio import serve as hypercorn_serve
        from hypercorn.config import Config

        config = Config()
        config.bind = [f"127.0.0.1:{port}"]
        config.read_timeout = TIMEOUT
        config.keep_alive_timeout = TIMEOUT
        config.accesslog = None
        config.backlog = 1024
        asyncio.run(hypercorn_serve(app, config))
    else:
        import uvicorn

        uvicorn.run(app, host="127.0.0.1", port=port, timeout_keep_alive=TIMEOUT, log_level="error", http="h11",
                    backlog=1024, lifespan="off")


def _status(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/status") as f:
        return {k: v.strip() for k, _, v in (line.partition(":") for line in f) if k in ("Threads", "VmRSS")}


def throughput(port: int, n: int = 2000, connections: int = 4) -> float:
    def worker() -> None:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for _ in range(n // connections):
            c.request("POST", "/v1/logs", BODY, {"Content-Type": "application/x-protobuf"})
            r = c.getresponse()
            if r.status != 200 or r.read() != str(len(BODY)).encode():
                raise RuntimeError(f"unexpected answer {r.status}")

    start = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return n / (time.perf_counter() - start)


def stalled(port: int, pid: int) -> tuple[bool, float, int, dict[str, str]]:
    sockets = []
    for _ in range(STALLED):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"POST /v1/logs HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
                  b"Content-Length: 50000\r\n\r\nabc")
        sockets.append(s)
    time.sleep(0.5)
    during = _status(pid)
    start = time.perf_counter()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("POST", "/v1/logs", BODY)
    ok = c.getresponse().status == 200
    latency = time.perf_counter() - start
    time.sleep(TIMEOUT + 3)
    ended = 0
    for s in sockets:
        s.settimeout(0.05)
        try:
            s.recv(1)  # data (a 408) or EOF: the server ended it
            ended += 1
        except TimeoutError:
            pass
        except OSError:
            ended += 1
        s.close()
    return ok, latency, ended, during


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--uvicorn-path", default="/tmp/uvpkg", help="where uvicorn (and click) are installed")
    parser.add_argument("--serve", nargs=2, metavar=("KIND", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        sys.path.insert(0, args.uvicorn_path)
        serve(args.serve[0], int(args.serve[1]))
        return
    results: dict[str, list[tuple[float, int]]] = {"hypercorn": [], "uvicorn": []}
    for round_ in (1, 2):
        for port, kind in enumerate(results, start=18431):
            server = subprocess.Popen([sys.executable, __file__, "--uvicorn-path", args.uvicorn_path,
                                       "--serve", kind, str(port)], stderr=subprocess.DEVNULL)
            try:
                for _ in range(100):
                    try:
                        socket.create_connection(("127.0.0.1", port)).close()
                        break
                    except OSError:
                        if server.poll() is not None:
                            sys.exit(f"{kind} did not start (is it installed? see this file's docstring)")
                        time.sleep(0.1)
                posts = throughput(port)
                ok, latency, ended, during = stalled(port, server.pid)
            finally:
                server.terminate()
                server.wait()
            results[kind].append((posts, ended))
            print(f"round {round_} {kind}: {posts:.0f} POST/s of 50 KB on 4 keep-alive connections; with {STALLED} "
                  f"stalled: a valid request ok={ok} in {latency * 1000:.0f} ms, server threads {during['Threads']}, "
                  f"RSS {during['VmRSS']}; {ended}/{STALLED} stalled ended {TIMEOUT + 3} s after (timeout {TIMEOUT} s)",
                  flush=True)
    best = {k: (max(p for p, _ in v), min(e for _, e in v)) for k, v in results.items()}
    print(f"RESULT hypercorn_posts_per_s={best['hypercorn'][0]:.0f} uvicorn_posts_per_s={best['uvicorn'][0]:.0f} "
          f"hypercorn_stalled_closed={best['hypercorn'][1]} uvicorn_stalled_closed={best['uvicorn'][1]}")


if __name__ == "__main__":
    main()
