"""The hello-activity sample in Python (Temporal Python SDK, `temporalio` from PyPI).

Same workflow as samples/hello-activity (TypeScript): one activity that returns a greeting, on the
same task queue, so a Python client can use a TypeScript worker and the other way round.

    python3 -m venv samples/python/.venv && samples/python/.venv/bin/pip install -r samples/python/requirements.txt
    export TEMPORAL_ADDRESS=127.0.0.1:<port>          # from `npm run local`, or <nlb-dns-name>:7233
    samples/python/.venv/bin/python samples/python/hello_activity.py worker &
    samples/python/.venv/bin/python samples/python/hello_activity.py client Alice   # Hello, Alice!

Settings (environment): TEMPORAL_ADDRESS (default 127.0.0.1:7233), TEMPORAL_NAMESPACE (default),
TEMPORAL_TASK_QUEUE (hello-activity), TEMPORAL_TLS (true/false, default false); credentials and TLS
through the SDK's environment configuration (temporalio.envconfig): TEMPORAL_API_KEY (the OIDC
access token, sent as `authorization: Bearer`; turns TLS on), TEMPORAL_TLS_SERVER_CA_CERT_PATH,
TEMPORAL_TLS_SERVER_NAME (`npm run local` prints all three).
"""
import asyncio
import os
import re
import sys
import uuid
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.envconfig import ClientConfig
from temporalio.worker import Worker


@activity.defn(name="greet")
async def greet(name: str) -> str:
    """Returns "Hello, <name>!"."""
    return f"Hello, {name}!"


@workflow.defn(name="helloActivity")
class HelloActivity:
    """Greets `name` through one activity and returns the greeting."""

    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_activity(greet, name, start_to_close_timeout=timedelta(seconds=30))


def settings() -> dict:
    """Reads the sample settings; raises ValueError naming the variable and the value."""
    address = os.environ.get("TEMPORAL_ADDRESS") or "127.0.0.1:7233"
    m = re.fullmatch(r"(\[[0-9a-fA-F:]+\]|[^:\s]+):(\d{1,5})", address)
    if not m or not 1 <= int(m.group(2)) <= 65535:
        raise ValueError(f"TEMPORAL_ADDRESS must be host:port with a port in 1-65535, got '{address}'")
    tls = (os.environ.get("TEMPORAL_TLS") or "false").lower()
    if tls not in ("true", "false"):
        raise ValueError(f"TEMPORAL_TLS must be 'true' or 'false', got '{os.environ.get('TEMPORAL_TLS')}'")
    return {
        "address": address,
        "namespace": os.environ.get("TEMPORAL_NAMESPACE") or "default",
        "task_queue": os.environ.get("TEMPORAL_TASK_QUEUE") or "hello-activity",
        "tls": tls == "true",
    }


async def main(argv: list[str]) -> int:
    if len(argv) < 1 or argv[0] not in ("worker", "client"):
        print("usage: hello_activity.py worker | client [name]", file=sys.stderr)
        return 2
    s = settings()
    connect = ClientConfig.load_client_connect_config()
    connect["target_host"] = s["address"]
    connect["namespace"] = s["namespace"]
    if s["tls"] and not connect.get("tls"):
        connect["tls"] = True
    client = await Client.connect(**connect)
    if argv[0] == "worker":
        worker = Worker(client, task_queue=s["task_queue"], workflows=[HelloActivity], activities=[greet])
        print(f"worker polling task queue '{s['task_queue']}' on {s['address']} (namespace {s['namespace']})", flush=True)
        await worker.run()
        return 0
    name = argv[1] if len(argv) > 1 else "Temporal on DSQL"
    workflow_id = f"hello-activity-py-{uuid.uuid4()}"
    handle = await client.start_workflow(HelloActivity.run, name, id=workflow_id, task_queue=s["task_queue"])
    print(f"started workflow {workflow_id} (run {handle.result_run_id})")
    print(await handle.result())
    return 0


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main(sys.argv[1:])))
    except KeyboardInterrupt:
        sys.exit(130)
