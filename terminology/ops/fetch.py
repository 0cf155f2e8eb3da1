"""The ``terminology fetch`` command: download operator-given files (CMS tables, a prebuilt NCCI index).

The chart's NCCI import Job fetches the CMS files it is given as URLs, and clusters without
ReadWriteMany volumes copy a prebuilt index into each pod with it. A file appears under its final
name only once it is complete (and matches ``--sha256`` when given), so a cut download is never read.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

CHUNK = 1 << 20


class FetchError(Exception):
    """A download failed; the message names the URL (without its query, which may hold a signature)."""


def shown(url: str) -> str:
    """Return the URL without query or fragment: presigned object-store URLs carry secrets there."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def file_name(url: str) -> str:
    """Return the name a URL's file is saved under: the last segment of its path."""
    name = unquote(PurePosixPath(urlsplit(url).path).name)
    if not name or name in (".", ".."):
        raise FetchError(f"{shown(url)} names no file; give --name")
    return name


def fetch(url: str, target: Path, sha256: str | None = None, timeout: float = 60) -> int:
    """Download ``url`` to ``target`` through a temporary file beside it; return the size in bytes.

    :raise FetchError: on a non-http(s) URL, an HTTP error, a cut transfer or a checksum mismatch.
    """
    import requests

    if urlsplit(url).scheme not in ("https", "http"):
        raise FetchError(f"{shown(url)}: only https:// and http:// URLs can be fetched")
    digest = hashlib.sha256()
    handle, temp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    size = 0
    try:
        with os.fdopen(handle, "wb") as out, requests.get(url, stream=True, timeout=timeout) as response:
            if response.status_code != 200:
                raise FetchError(f"{shown(url)}: HTTP {response.status_code}")
            for chunk in response.iter_content(CHUNK):
                out.write(chunk)
                digest.update(chunk)
                size += len(chunk)
            expected = response.headers.get("Content-Length")
            encoded = response.headers.get("Content-Encoding", "identity") != "identity"
            if not encoded and expected is not None and expected.isdigit() and int(expected) != size:
                raise FetchError(f"{shown(url)}: the transfer was cut ({size} of {expected} bytes)")
            out.flush()
            os.fsync(out.fileno())
        if sha256 and digest.hexdigest() != sha256.lower():
            raise FetchError(f"{shown(url)}: SHA-256 {digest.hexdigest()} is not the expected {sha256}")
        os.replace(temp, target)
    except requests.RequestException as exc:
        Path(temp).unlink(missing_ok=True)
        raise FetchError(f"{shown(url)}: {type(exc).__name__}") from None
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return size


def _fetch_command(args: argparse.Namespace) -> int:
    """Fetch every URL into --into; stop at the first failure (exit 1)."""
    if args.name and len(args.urls) != 1:
        print("error: --name needs exactly one URL", file=sys.stderr)
        return 2
    if args.sha256 and len(args.urls) != 1:
        print("error: --sha256 needs exactly one URL", file=sys.stderr)
        return 2
    args.into.mkdir(parents=True, exist_ok=True)
    for url in args.urls:
        try:
            target = args.into / (args.name or file_name(url))
            size = fetch(url, target, args.sha256, args.timeout)
        except FetchError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"fetched {shown(url)} -> {target} ({size:,} bytes)")
    return 0


def register(subparsers) -> None:
    """Add ``terminology fetch``."""
    fetching = subparsers.add_parser(
        "fetch",
        help="download files given as URLs (CMS tables for an import, a prebuilt NCCI index)",
        description="Download each URL into DIR under the last segment of its path (or --name); a file "
        "appears only once complete and, with --sha256, verified.",
    )
    fetching.add_argument("urls", nargs="+", metavar="URL", help="https:// (or http://) URL")
    fetching.add_argument("--into", type=Path, required=True, metavar="DIR", help="directory to write to")
    fetching.add_argument("--name", help="file name to save the one URL under")
    fetching.add_argument("--sha256", help="expected SHA-256 of the one URL's content (hex)")
    fetching.add_argument("--timeout", type=float, default=60, help="seconds without data before giving up")
    fetching.set_defaults(handler=_fetch_command)
