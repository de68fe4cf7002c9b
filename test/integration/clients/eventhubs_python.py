"""A Python Event Hubs service client, as a user of Debian's python3-azure runs it: azure-eventhub 5.11
with its default pure-Python AMQP stack, over AMQPS, trusting the devstack CA through
connection_verify (TLS verification stays on). azure-eventhub 5.11 always dials port 5671.

Env: EVENTHUBS_CONNECTION_STRING (never on the command line), CA_FILE (absent: the system's trust
store), RUN_MARKER, EXPECT_EVENTS (events with that marker to read back, including the 2 it sends).
Prints one JSON line: {"partitionIds", "received": [{"body", "deviceId", "partitionId"}]} or {"error"}.
"""
import json
import os
import threading
import time

from azure.eventhub import EventData, EventHubConsumerClient, EventHubProducerClient

connection_string = os.environ["EVENTHUBS_CONNECTION_STRING"]
marker = os.environ["RUN_MARKER"]
expected = int(os.environ.get("EXPECT_EVENTS", "2"))
options = {"retry_total": 0}
if os.environ.get("CA_FILE"):
    options["connection_verify"] = os.environ["CA_FILE"]


def main():
    producer = EventHubProducerClient.from_connection_string(connection_string, **options)
    with producer:
        partition_ids = producer.get_partition_ids()
        batch = producer.create_batch(partition_key="python-client")
        for body in ("py-one", "py-two"):
            event = EventData(body)
            event.properties = {"run": marker}
            batch.add(event)
        producer.send_batch(batch)

    received = []
    consumer = EventHubConsumerClient.from_connection_string(connection_string, consumer_group="$Default", **options)

    def on_event(context, event):
        if event is None or (event.properties or {}).get(b"run") != marker.encode():
            return
        device = (event.system_properties or {}).get(b"iothub-connection-device-id")
        received.append({
            "body": event.body_as_str(),
            "deviceId": device.decode() if isinstance(device, bytes) else device,
            "partitionId": context.partition_id,
        })

    reader = threading.Thread(target=lambda: consumer.receive(on_event, starting_position="-1", max_wait_time=1))
    reader.start()
    deadline = time.time() + 30
    while len(received) < expected and time.time() < deadline:
        time.sleep(0.1)
    consumer.close()
    reader.join(10)
    print(json.dumps({"partitionIds": partition_ids, "received": received}), flush=True)


try:
    main()
except Exception as error:  # the parent asserts on the message
    print(json.dumps({"error": {"type": type(error).__name__, "message": str(error)}}), flush=True)
    raise SystemExit(1)
