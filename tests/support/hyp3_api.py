"""A local HyP3 API stand-in: a real HTTP server on 127.0.0.1 with what hyp3_sdk calls, and moto's S3 server.

Endpoints (as hyp3_sdk 7 uses them): GET /user; POST /jobs {'jobs': [...]} -> {'jobs': [...]}; GET /jobs with the
name/job_type/status_code filters and pagination (a 'next' URL until the last page); GET /jobs/{job_id}. Jobs
go PENDING -> RUNNING -> SUCCEEDED | FAILED on a background thread that calls `runner(job)` for the job's files
(`filename`, `size`, `url`, `s3` bucket/key); an exception from the runner fails the job, as a failed Batch step
does. Unknown job types and malformed bodies get HyP3's 400 {'detail': ...}.
"""

import json
import os
import queue
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlparse

import boto3
import pytest

from tests.support.http_server import QuietHTTPServer, started_moto_server


JobRunner = Callable[[dict[str, Any]], list[dict[str, Any]]]
USER_ID = 'campaign_tester'
EXPIRATION_DAYS = 14


@dataclass
class StandIn:
    runner: JobRunner
    job_types: tuple[str, ...] = ('S1_CORRECTION_FIXED',)
    page_size: int = 2
    url: str = ''
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    posts: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    work: 'queue.Queue[str | None]' = field(default_factory=queue.Queue)

    def run_jobs(self) -> None:
        while (job_id := self.work.get()) is not None:
            with self.lock:
                job = self.jobs[job_id]
                job['status_code'] = 'RUNNING'
            try:
                files = self.runner(dict(job))
                update = {'status_code': 'SUCCEEDED', 'files': files}
                update['expiration_time'] = (datetime.now(timezone.utc) + timedelta(days=EXPIRATION_DAYS)).isoformat()
            except Exception as error:  # noqa: BLE001 - the job fails, as an AWS Batch step does
                update = {'status_code': 'FAILED', 'logs': [f'error: {error}']}
            with self.lock:
                job.update(update)


def _job(item: dict[str, Any]) -> dict[str, Any]:
    return {
        'job_id': str(uuid.uuid4()),
        'job_type': item['job_type'],
        'job_parameters': item.get('job_parameters', {}),
        'name': item.get('name'),
        'request_time': datetime.now(timezone.utc).isoformat(),
        'status_code': 'PENDING',
        'user_id': USER_ID,
        'files': [],
        'logs': [],
        'credit_cost': 1.0,
    }


class _Handler(BaseHTTPRequestHandler):
    server: '_Server'
    protocol_version = 'HTTP/1.1'

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        stand_in = self.server.stand_in
        parsed = urlparse(self.path)
        query = {key: values[0] for key, values in parse_qs(parsed.query).items()}
        if parsed.path == '/user':
            return self._send(200, {'user_id': USER_ID, 'remaining_credits': 1000.0, 'application_status': 'APPROVED'})
        if parsed.path.startswith('/jobs/'):
            with stand_in.lock:
                job = stand_in.jobs.get(parsed.path.removeprefix('/jobs/'))
                return self._send(200, dict(job)) if job else self._send(404, {'detail': 'job not found'})
        if parsed.path == '/jobs':
            with stand_in.lock:
                matching = [
                    stand_in.jobs[job_id]
                    for job_id in stand_in.order
                    if all(stand_in.jobs[job_id].get(key) == query[key] for key in ('name', 'job_type', 'status_code')
                           if key in query)
                ]  # fmt: skip
                start = int(query.get('start_token', 0))
                body: dict[str, Any] = {'jobs': [dict(job) for job in matching[start : start + stand_in.page_size]]}
            if start + stand_in.page_size < len(matching):
                rest = {key: value for key, value in query.items() if key != 'start_token'}
                rest['start_token'] = str(start + stand_in.page_size)
                body['next'] = f'{stand_in.url}/jobs?' + '&'.join(f'{key}={value}' for key, value in rest.items())
            return self._send(200, body)
        self._send(404, {'detail': f'no such endpoint {parsed.path}'})

    def do_POST(self) -> None:
        stand_in = self.server.stand_in
        if urlparse(self.path).path != '/jobs':
            return self._send(404, {'detail': 'no such endpoint'})
        try:
            items = json.loads(self.rfile.read(int(self.headers.get('Content-Length', 0))))['jobs']
        except (ValueError, KeyError):
            return self._send(400, {'detail': 'body must be {"jobs": [...]}'})
        unknown = [item.get('job_type') for item in items if item.get('job_type') not in stand_in.job_types]
        if unknown:
            return self._send(400, {'detail': f'unknown job type {unknown[0]!r}'})
        created = [_job(item) for item in items]
        with stand_in.lock:
            stand_in.posts += 1
            for job in created:
                stand_in.jobs[job['job_id']] = job
                stand_in.order.append(job['job_id'])
        for job in created:
            stand_in.work.put(job['job_id'])
        self._send(200, {'jobs': created})


class _Server(QuietHTTPServer):
    def __init__(self, stand_in: StandIn) -> None:
        super().__init__(('127.0.0.1', 0), _Handler)
        self.stand_in = stand_in


@contextmanager
def hyp3_stand_in(runner: JobRunner, **options: Any) -> Iterator[StandIn]:
    stand_in = StandIn(runner=runner, **options)
    server = _Server(stand_in)
    host, port = server.server_address[:2]
    stand_in.url = f'http://{host!s}:{port}'
    threads = [threading.Thread(target=server.serve_forever, daemon=True), threading.Thread(target=stand_in.run_jobs)]
    for thread in threads:
        thread.start()
    try:
        yield stand_in
    finally:
        stand_in.work.put(None)
        server.shutdown()
        server.server_close()
        for thread in threads:
            thread.join()


@dataclass(frozen=True)
class S3:
    endpoint: str
    client: Any


@contextmanager
def moto_s3(tmp_path: Any, buckets: tuple[str, ...]) -> Iterator[S3]:
    """moto's S3 server on 127.0.0.1 with `buckets`, the AWS environment pointing at it."""
    server = started_moto_server()
    host, port = server.get_host_and_port()
    endpoint = f'http://{host}:{port}'
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {
            'AWS_ACCESS_KEY_ID': 'testing',
            'AWS_SECRET_ACCESS_KEY': 'testing',
            'AWS_DEFAULT_REGION': 'us-east-1',
            'AWS_ENDPOINT_URL': endpoint,
            'AWS_CONFIG_FILE': os.path.join(tmp_path, 'no-aws-config'),
            'AWS_SHARED_CREDENTIALS_FILE': os.path.join(tmp_path, 'no-aws-credentials'),
        }.items():
            patch.setenv(name, value)
        client = boto3.client('s3')
        for bucket in buckets:
            client.create_bucket(Bucket=bucket)
        try:
            yield S3(endpoint=endpoint, client=client)
        finally:
            server.stop()
