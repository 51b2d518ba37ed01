"""Create an S3 object only if its key is absent: ``PutObject`` with ``If-None-Match: *``.

pyarrow's S3 file system writes unconditionally (it has no conditional write; Arrow
issue 44281), and S3 answers such a PUT with ``412 Precondition Failed`` when the key
exists, atomically across writers (AWS since August 2024; MinIO, R2 and moto too). So
this one request is signed here (AWS Signature Version 4) and sent with ``requests``,
with the connection settings the pyarrow file system resolved itself (endpoint, scheme,
region, credentials: read from the file system's pickled state, so the default
credential chain it resolved is honoured). Nothing else is sent this way.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pyarrow.fs as pafs
import requests

from intrace_analytics.exceptions import ExportError

__all__ = ["put_if_absent"]

_TIMEOUT = (10, 60)
#: 409 ConditionalRequestConflict: another conditional write to the key is in flight;
#: S3 asks for a retry.
_CONFLICT_RETRIES = 5


def put_if_absent(fs: pafs.S3FileSystem, path: str, data: bytes) -> bool:
    """PUT ``data`` at ``bucket/key`` (``path``) unless the key exists; whether it did."""
    settings = _settings(fs)
    bucket, _, key = path.partition("/")
    url, host, canonical_uri = _address(settings, bucket, key)
    for attempt in range(_CONFLICT_RETRIES + 1):
        headers = _signed_headers(settings, host, canonical_uri, data)
        response = requests.put(url, data=data, headers=headers, timeout=_TIMEOUT)
        if response.status_code == 409 and attempt < _CONFLICT_RETRIES:
            time.sleep(0.05 * 2**attempt)
            continue
        break
    if response.status_code == 412:
        return False
    if response.ok:
        return True
    raise ExportError(
        f"S3 refused to create s3://{path} (HTTP {response.status_code}): {response.text[:300]}",
        path=f"s3://{path}",
    )


def _settings(fs: pafs.S3FileSystem) -> dict[str, Any]:
    # The file system's pickled state is its resolved configuration: the public way
    # pyarrow offers to read it back.
    reconstruct_args = fs.__reduce__()[1]
    settings = dict(reconstruct_args[0])
    if settings.get("anonymous") or not settings.get("access_key"):
        raise ValueError(
            "committing a load to S3 needs credentials (an anonymous S3 file system cannot "
            "write); pass storage_options access_key and secret_key, or configure AWS "
            "credentials"
        )
    return settings


def _address(settings: dict[str, Any], bucket: str, key: str) -> tuple[str, str, str]:
    """The request URL, its Host header and the canonical URI that is signed."""
    scheme = settings.get("scheme") or "https"
    region = settings.get("region") or "us-east-1"
    endpoint = settings.get("endpoint_override") or ""
    quoted_key = quote(key, safe="/-_.~")
    if endpoint:
        host = endpoint.split("://", 1)[-1].rstrip("/")
        if settings.get("force_virtual_addressing"):
            host = f"{bucket}.{host}"
            canonical = f"/{quoted_key}"
        else:
            canonical = f"/{quote(bucket, safe='-_.~')}/{quoted_key}"
    else:
        host = f"{bucket}.s3.{region}.amazonaws.com"
        canonical = f"/{quoted_key}"
    return f"{scheme}://{host}{canonical}", host, canonical


def _signed_headers(
    settings: dict[str, Any], host: str, canonical_uri: str, data: bytes
) -> dict[str, str]:
    """The headers of the PUT, signed with AWS Signature Version 4."""
    region = settings.get("region") or "us-east-1"
    now = datetime.now(UTC)
    stamp, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    payload = hashlib.sha256(data).hexdigest()
    headers = {
        "host": host,
        "if-none-match": "*",
        "x-amz-content-sha256": payload,
        "x-amz-date": stamp,
    }
    if settings.get("session_token"):
        headers["x-amz-security-token"] = settings["session_token"]
    names = sorted(headers)
    canonical = "\n".join(
        [
            "PUT",
            canonical_uri,
            "",
            "".join(f"{name}:{headers[name].strip()}\n" for name in names),
            ";".join(names),
            payload,
        ]
    )
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    signing_key = f"AWS4{settings['secret_key']}".encode()
    for part in (day, region, "s3", "aws4_request"):
        signing_key = hmac.new(signing_key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(signing_key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={settings['access_key']}/{scope}, "
        f"SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    del headers["host"]  # requests sends it from the URL
    return headers
