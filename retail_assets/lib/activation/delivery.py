"""Delivering a plan (and its platform renderings) to a folder or an HTTP endpoint.

Every delivery carries an idempotency key
(:func:`retail_assets.lib.activation.payload.idempotency_key`): stable for the same plan, target
and body, new when the body changes. Retrying with the same key is therefore safe, and it is what
:class:`HttpSink` does on connection errors, timeouts, 429 and 5xx. :class:`FolderSink` writes
atomically and does not rewrite a file that already holds the same bytes.
"""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import hashlib
import os
import re
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import requests
import urllib3

from retail_assets.lib.activation.dsp_adapters.render import DSPS, render_validated
from retail_assets.lib.activation.payload import dumps, idempotency_key, validate_plan

CANONICAL = "canonical"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_RESPONSE_TEXT_LIMIT = 500


class DeliveryError(RuntimeError):
    """A delivery failed for good (after any retries).

    Attributes:
        status: The last HTTP status, or None when no response came back.
        attempts: How many attempts were made.

    """

    def __init__(self, message: str, *, status: int | None = None, attempts: int = 0) -> None:
        super().__init__(message)
        self.status = status
        self.attempts = attempts


@dataclass(frozen=True)
class DeliveryReceipt:
    """What was delivered, where, and how.

    Attributes:
        target: ``"canonical"`` or the platform name.
        key: The idempotency key sent with it.
        attempts: Attempts made (1 when the first one succeeded).
        status: ``"delivered"``, ``"already_delivered"`` (same bytes were there: nothing
            written) or ``"replaced"`` (a file with other bytes was atomically replaced).
        location_or_url: The file path or the URL.
        bytes: Size of the delivered document.
        sha256: Hex SHA-256 of the delivered bytes.

    """

    target: str
    key: str
    attempts: int
    status: str
    location_or_url: str
    bytes: int
    sha256: str


class Sink(Protocol):
    """Where deliveries go."""

    def send(self, *, plan_id: str, target: str, key: str, data: bytes) -> DeliveryReceipt:
        """Deliver ``data`` for ``(plan_id, target)`` under idempotency ``key``."""
        ...


def _safe(name: str, what: str) -> str:
    # Both end up in a path or URL: refuse anything that could climb out of it.
    if not _SAFE_NAME.match(name) or ".." in name:
        raise ValueError(f"unsafe {what} {name!r}")
    return name


class FolderSink:
    """Writes ``<folder>/<plan_id>/<target>.json``, atomically and idempotently.

    The file is written to a temporary file in the same folder, flushed to disk and moved into
    place with ``os.replace``, so a reader sees the old file or the new one, never a part. When
    the file already holds exactly the same bytes nothing is written and the receipt says
    ``already_delivered``; other bytes (a changed plan, or a rerun's new lineage) replace it.
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        """Deliver under ``folder`` (created on first use)."""
        self.folder = Path(folder)

    def path_for(self, plan_id: str, target: str) -> Path:
        """Where ``(plan_id, target)`` is written."""
        return self.folder / _safe(plan_id, "plan id") / f"{_safe(target, 'target')}.json"

    def send(self, *, plan_id: str, target: str, key: str, data: bytes) -> DeliveryReceipt:
        """Write ``data`` unless the same bytes are already there."""
        path = self.path_for(plan_id, target)
        digest = hashlib.sha256(data).hexdigest()
        receipt = dict(
            target=target,
            key=key,
            attempts=1,
            location_or_url=str(path),
            bytes=len(data),
            sha256=digest,
        )
        existing = path.read_bytes() if path.is_file() else None
        if existing == data:
            return DeliveryReceipt(status="already_delivered", **receipt)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _fsync_dir(path.parent)
        return DeliveryReceipt(status="delivered" if existing is None else "replaced", **receipt)


def _fsync_dir(folder: Path) -> None:
    # Makes the rename itself durable on POSIX; directories cannot be opened on Windows.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def retry_after_seconds(value: str | None, *, now: dt.datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date).

    Returns:
        The wait (never negative), or None when the header is absent or unreadable.

    """
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    now = now or dt.datetime.now(dt.UTC)
    return max(0.0, (when - now).total_seconds())


class HttpSink:
    """POSTs JSON to an endpoint with an ``Idempotency-Key``, retrying what is safe to retry.

    Retried: connection errors, timeouts, HTTP 429 and 5xx, up to ``retries`` times after the
    first attempt, waiting ``backoff * 2**(n-1)`` seconds (at most ``max_backoff``) or what the
    response's ``Retry-After`` asks (at most ``max_retry_after``). Never retried: other 4xx and
    3xx (redirects are not followed: a redirected POST could turn into a GET). Each attempt is
    bounded by ``timeout`` seconds in total: connecting and waiting for the response share it
    (urllib3's total timeout) and reading the body stops at the same deadline.

    The URL may hold ``{plan_id}`` and ``{target}``, filled per delivery.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 10.0,
        retries: int = 3,
        backoff: float = 0.5,
        headers: Mapping[str, str] | None = None,
        max_backoff: float = 30.0,
        max_retry_after: float = 60.0,
        session: requests.Session | None = None,
    ) -> None:
        """Configure the endpoint; ``headers`` (e.g. authorization) go with every request."""
        if retries < 0 or timeout <= 0 or backoff < 0:
            raise ValueError("retries and backoff must be >= 0 and timeout > 0")
        self.url = url
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.headers = dict(headers or {})
        self.max_backoff = max_backoff
        self.max_retry_after = max_retry_after
        self.session = session or requests.Session()

    def send(self, *, plan_id: str, target: str, key: str, data: bytes) -> DeliveryReceipt:
        """POST ``data`` until it is accepted (2xx) or fails for good.

        Raises:
            DeliveryError: a non-retryable status (naming it and the response text, cut to
                500 characters), or the retries ran out.

        """
        url = self.url.format(plan_id=_safe(plan_id, "plan id"), target=_safe(target, "target"))
        digest = hashlib.sha256(data).digest()
        headers = {
            **self.headers,
            "Content-Type": "application/json",
            "Idempotency-Key": key,
            # RFC 9530, so the receiver can check the body arrived intact.
            "Content-Digest": f"sha-256=:{base64.b64encode(digest).decode()}:",
        }
        last = "no attempt made"
        status: int | None = None
        attempts = 0
        for attempt in range(1, self.retries + 2):
            attempts = attempt
            wait: float | None = None
            try:
                status, text, retry_after = self._post(url, data, headers)
            except (requests.ConnectionError, requests.Timeout, _AttemptDeadline) as exc:
                status, last = None, f"{type(exc).__name__}: {exc}"
            else:
                if 200 <= status < 300:
                    return DeliveryReceipt(
                        target=target,
                        key=key,
                        attempts=attempt,
                        status="delivered",
                        location_or_url=url,
                        bytes=len(data),
                        sha256=digest.hex(),
                    )
                last = f"HTTP {status}: {text[:_RESPONSE_TEXT_LIMIT]}"
                if status != 429 and not 500 <= status < 600:
                    raise DeliveryError(
                        f"{url} refused the delivery of {target} ({last})",
                        status=status,
                        attempts=attempt,
                    )
                if retry_after is not None:
                    wait = min(retry_after, self.max_retry_after)
            if attempt <= self.retries:
                if wait is None:
                    wait = min(self.backoff * 2 ** (attempt - 1), self.max_backoff)
                time.sleep(wait)
        raise DeliveryError(
            f"{url}: delivery of {target} failed after {attempts} attempts ({last})",
            status=status,
            attempts=attempts,
        )

    def _post(
        self, url: str, data: bytes, headers: dict[str, str]
    ) -> tuple[int, str, float | None]:
        deadline = time.monotonic() + self.timeout
        with self.session.post(
            url,
            data=data,
            headers=headers,
            timeout=urllib3.Timeout(total=self.timeout),
            allow_redirects=False,
            stream=True,
        ) as response:
            chunks = []
            for chunk in response.iter_content(chunk_size=8192):
                chunks.append(chunk)
                if time.monotonic() > deadline:
                    raise _AttemptDeadline(f"response body not read within {self.timeout}s")
            text = b"".join(chunks).decode(response.encoding or "utf-8", errors="replace")
            return (
                response.status_code,
                text,
                retry_after_seconds(response.headers.get("Retry-After")),
            )


class _AttemptDeadline(Exception):
    """An attempt ran past its total timeout while reading the response."""


def deliver(
    payload: dict[str, Any],
    sink: Sink,
    dsps: Iterable[str] = (CANONICAL,),
    *,
    now: dt.datetime | None = None,
) -> list[DeliveryReceipt]:
    """Validate a plan, then send the canonical payload and/or platform renderings.

    Each target gets its own idempotency key, ``idempotency_key(plan_id, target, body_sha256)``;
    the canonical payload goes as :func:`~retail_assets.lib.activation.payload.dumps` writes it, a
    rendering as ``dumps(render(payload, dsp))``.

    Args:
        payload: The canonical plan envelope.
        sink: A :class:`FolderSink`, an :class:`HttpSink` or anything with the same ``send``.
        dsps: ``"canonical"`` and/or platform names (see ``dsp_adapters.DSPS``).
        now: Passed to ``validate_plan``: when given, the flight must start in the future.

    Returns:
        One receipt per target, in order.

    Raises:
        PlanValidationError: the plan (or a rendering) is invalid; nothing is sent.
        DeliveryError: a target could not be delivered (earlier targets stay delivered).

    """
    targets = list(dict.fromkeys(dsps))
    unknown = [t for t in targets if t != CANONICAL and t not in DSPS]
    if unknown:
        raise ValueError(f"unknown targets {unknown}; known: {[CANONICAL, *DSPS]}")
    validate_plan(payload, now=now)
    pid = payload["body"]["plan_id"]
    digest = payload["lineage"]["body_sha256"]
    # Render everything before sending anything, so a bad rendering blocks the whole delivery.
    documents = {
        t: dumps(payload) if t == CANONICAL else dumps(render_validated(payload, t))
        for t in targets
    }
    return [
        sink.send(plan_id=pid, target=t, key=idempotency_key(pid, t, digest), data=data)
        for t, data in documents.items()
    ]
