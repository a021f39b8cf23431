"""A TCP echo server on CPython's asyncio, or on uvloop: peers of the sandloop echo example
in the benchmark (bench/run.sh).

    python asyncio_echo.py 127.0.0.1:8888 [--streams] [--uvloop]

By default a Protocol echoes what arrives, as the "TCP Echo Server" example of asyncio's
documentation does (without its prints); with --streams a handler reads up to 64 KiB, writes
it back and drains, like the example's streams variant. --uvloop runs the same code on
uvloop's loop. Prints `Serving on ADDR` once listening. Both loops set TCP_NODELAY on
their TCP transports.
"""

import argparse
import asyncio
import sys


class EchoServerProtocol(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)


async def echo(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass  # the peer went away, which an echo server does not report
    finally:
        writer.close()


async def serve(host, port, streams):
    if streams:
        server = await asyncio.start_server(echo, host, port)
    else:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(EchoServerProtocol, host, port)
    for sock in server.sockets:
        host, port = sock.getsockname()[:2]
        print(f"Serving on {host}:{port}", flush=True)
    async with server:
        await server.serve_forever()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("addr", nargs="?", default="127.0.0.1:8888", help="IP:PORT to listen on")
    parser.add_argument("--streams", action="store_true", help="serve with the streams API")
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop")
    args = parser.parse_args()
    host, _, port = args.addr.rpartition(":")
    coro = serve(host, int(port), args.streams)
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
