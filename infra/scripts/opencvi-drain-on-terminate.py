#!/usr/bin/python3
"""Drains a media host before Azure takes its VM away.

Usage: opencvi-drain-on-terminate [--interval SECONDS] UNIT

Polls the Scheduled Events of the Azure Instance Metadata Service (IMDS). When an event
that takes this VM down is scheduled for it (Terminate: a scale-in or a delete, which the
scale set's terminate notification announces; Preempt; Reboot; Redeploy), it stops UNIT
(systemctl stop: the media host drains on SIGTERM, taking no new calls and letting the
current ones go on for DRAIN_GRACE_MS, and systemctl returns once it has exited), then
approves the event, so Azure goes ahead at once instead of waiting out NotBefore. Freeze
events (a pause of seconds) are left alone. Runs as root.
OPENCVI_IMDS_ENDPOINT replaces http://169.254.169.254 (tests only).
"""

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

IMDS = os.environ.get("OPENCVI_IMDS_ENDPOINT", "http://169.254.169.254").rstrip("/")
EVENTS = f"{IMDS}/metadata/scheduledevents?api-version=2020-07-01"
TAKES_VM_DOWN = {"Terminate", "Preempt", "Reboot", "Redeploy"}
# IMDS is reached directly, never through a proxy.
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def request(url, body=None):
    data = None if body is None else json.dumps(body).encode()
    headers = {"Metadata": "true"}
    if data is not None:
        headers["Content-Type"] = "application/json"
    with DIRECT.open(urllib.request.Request(url, data=data, headers=headers), timeout=10) as response:
        text = response.read()
    return json.loads(text) if text else None


def log(message):
    print(f"opencvi-drain-on-terminate: {message}", file=sys.stderr, flush=True)


def main(argv):
    interval = 5.0
    rest = list(argv)
    if len(rest) >= 2 and rest[0] == "--interval":
        interval = float(rest[1])
        rest = rest[2:]
    if len(rest) != 1:
        log("usage: opencvi-drain-on-terminate [--interval SECONDS] UNIT")
        return 2
    unit = rest[0]
    vm_name = None
    approved = set()
    while True:
        try:
            if vm_name is None:
                vm_name = request(f"{IMDS}/metadata/instance/compute?api-version=2021-02-01")["name"]
            document = request(EVENTS) or {}
            for event in document.get("Events", []):
                event_id = event.get("EventId")
                if (
                    event_id in approved
                    or event.get("EventType") not in TAKES_VM_DOWN
                    or event.get("EventStatus") != "Scheduled"
                    or vm_name not in event.get("Resources", [])
                ):
                    continue
                log(f"{event.get('EventType')} scheduled for {vm_name} (not before {event.get('NotBefore')}): stopping {unit}")
                subprocess.run(["systemctl", "stop", unit], check=False)
                request(EVENTS, {"StartRequests": [{"EventId": event_id}]})
                approved.add(event_id)
                log(f"{unit} stopped, event {event_id} approved")
        except (urllib.error.URLError, OSError, ValueError, KeyError, TypeError) as error:
            # IMDS answers slowly the first time (it starts scheduled events for the VM) or
            # is briefly away: ask again.
            log(f"scheduled events not read: {error!r}")
        time.sleep(interval)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
