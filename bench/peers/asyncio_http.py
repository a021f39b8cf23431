"""An HTTP/1.1 keep-alive "Hello, World!" server on CPython's asyncio, or on uvloop: peers of
the sandloop example http_hello in the benchmark (bench/run.sh).

    python asyncio_http.py 127.0.0.1:8080 [--uvloop]

A Protocol parses requests out of the byte stream (pipelined ones too) and answers each with
the same bytes as examples/http_hello.rs, after the same steps. Prints
`Serving on http://ADDR/` once listening.
"""

import argparse
import asyncio
import sys

BODY = b"Hello, World!"


def content_length(head):
    """The declared body length of a request, to skip its body."""
    for line in head.decode("utf-8", "replace").splitlines():
        name, sep, value = line.partition(":")
        if sep and name.lower() == "content-length":
            try:
                return int(value.strip())
            except ValueError:
                return 0
    return 0


def wants_close(head):
    """Whether the request asks to close the connection after the response."""
    text = head.decode("utf-8", "replace").lower()
    return (
        text.startswith("get / http/1.0") and "connection: keep-alive" not in text
    ) or "connection: close" in text


class HttpProtocol(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
        self.buffer = bytearray()

    def data_received(self, data):
        self.buffer += data
        out = []
        close = False
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                break
            end += 4
            head = bytes(self.buffer[:end])
            total = end + content_length(head)
            if len(self.buffer) < total:
                break
            close = wants_close(head)
            out.append(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n%s\r\n%s"
                % (len(BODY), b"Connection: close\r\n" if close else b"", BODY)
            )
            del self.buffer[:total]
            if close:
                break
        if out:
            self.transport.write(b"".join(out))
        if close:
            self.transport.close()


async def serve(host, port):
    loop = asyncio.get_running_loop()
    server = await loop.create_server(HttpProtocol, host, port)
    for sock in server.sockets:
        host, port = sock.getsockname()[:2]
        print(f"Serving on http://{host}:{port}/", flush=True)
    async with server:
        await server.serve_forever()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("addr", nargs="?", default="127.0.0.1:8080", help="IP:PORT to listen on")
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop")
    args = parser.parse_args()
    host, _, port = args.addr.rpartition(":")
    coro = serve(host, int(port))
    try:
        if args.uvloop:
            import uvloop

            uvloop.run(coro)
        else:
            asyncio.run(coro)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
