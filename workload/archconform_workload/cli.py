"""Command line: ``serve`` (the default) and the probe subcommands ``connect``, ``resolve``,
``http``. Exit codes of the probes: 0 connected/answered, 1 refused, 2 timeout, 3 error."""

from __future__ import annotations

import argparse
import dataclasses
import socket
import sys

from archconform_workload import __version__, probes
from archconform_workload.config import Config, ConfigError, parse_ports


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="archconform-workload", description=__doc__)
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command")

    serve = sub.add_parser("serve", help="serve HTTP on every TCP port, echo on every UDP port")
    serve.add_argument("--ports", help="overrides WORKLOAD_PORTS, e.g. 8080,9090,53/udp")
    serve.add_argument("--bind", help="overrides WORKLOAD_BIND (default 0.0.0.0)")

    connect = sub.add_parser("connect", help="is host:port reachable? connected|refused|timeout")
    connect.add_argument("--host", required=True)
    connect.add_argument("--port", required=True, type=int)
    connect.add_argument("--protocol", choices=("tcp", "udp"), default="tcp")
    connect.add_argument("--timeout", type=_positive, default=2.0, help="seconds (default 2)")

    resolve = sub.add_parser("resolve", help="time DNS lookups of a name")
    resolve.add_argument("name")
    resolve.add_argument("--count", type=int, default=1)
    resolve.add_argument("--timeout", type=_positive, default=5.0, help="per lookup, seconds")
    resolve.add_argument("--interval", type=float, default=0.0, help="seconds between lookups")
    resolve.add_argument("--family", choices=("any", "4", "6"), default="any")
    resolve.add_argument("--json", action="store_true", help="one JSON object instead of lines")

    http = sub.add_parser("http", help="one HTTP request; prints the status code")
    http.add_argument("method")
    http.add_argument("url")
    http.add_argument("--timeout", type=_positive, default=5.0)
    http.add_argument("--insecure", action="store_true", help="do not verify TLS certificates")
    http.add_argument("--header", action="append", default=[], metavar="NAME:VALUE")
    http.add_argument("--headers", action="store_true", help="print response headers")
    http.add_argument("--body", action="store_true", help="print the response body")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = args.command or "serve"
    if command == "serve":
        from archconform_workload.server import serve

        try:
            config = Config.from_env()
            if getattr(args, "ports", None):
                config = dataclasses.replace(config, ports=parse_ports(args.ports))
            if getattr(args, "bind", None):
                config = dataclasses.replace(config, bind=args.bind)
        except ConfigError as exc:
            print(f"archconform-workload: {exc}", file=sys.stderr)
            return 2
        return serve(config)

    if command == "connect":
        outcome = probes.connect(args.host, args.port, protocol=args.protocol,
                                 timeout=args.timeout)
        print(outcome.line, flush=True)
        return outcome.code

    if command == "resolve":
        if args.count < 1:
            print("error: --count must be at least 1", flush=True)
            return probes.ERROR
        family = {"any": socket.AF_UNSPEC, "4": socket.AF_INET, "6": socket.AF_INET6}[args.family]
        lookups, summary = probes.resolve(args.name, count=args.count, timeout=args.timeout,
                                          interval=args.interval, family=family)
        print(probes.resolve_report(lookups, summary, as_json=args.json), flush=True)
        return 0 if summary["failed"] == 0 else 1

    if command == "http":
        headers = {}
        for item in args.header:
            name, sep, value = item.partition(":")
            if not sep:
                print(f"error: --header {item!r} is not NAME:VALUE", flush=True)
                return probes.ERROR
            headers[name.strip()] = value.strip()
        outcome, response, body = probes.http_request(args.method, args.url, timeout=args.timeout,
                                                      insecure=args.insecure, headers=headers)
        print(outcome.line)
        if response is not None and args.headers:
            for name, value in response.getheaders():
                print(f"{name}: {value}")
        if response is not None and args.body:
            if args.headers:
                print()
            sys.stdout.write(body.decode("utf-8", errors="replace"))
        sys.stdout.flush()
        return outcome.code
    return 2  # pragma: no cover - argparse rejects unknown commands
