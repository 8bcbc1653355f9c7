#!/usr/bin/python3
"""Writes the settings of a scale set instance that are known only once it runs.

Usage: opencvi-instance-env [--client-id ID] [--resource-manager URL] FILE NAME=SOURCE...

FILE (a systemd EnvironmentFile) gets one NAME=value line per argument, the value read
from the Azure Instance Metadata Service (IMDS) according to SOURCE:

  vm-name     the VM's name (in a Flexible scale set: <scale set name>_<8 hex digits>)
  private-ip  the primary private IPv4 address of its network interface
  public-ip   the public IPv4 address on that interface. IMDS leaves Standard SKU public
              addresses out, so it is read from Azure Resource Manager (--resource-manager,
              default https://management.azure.com/) with the VM's managed identity
              (--client-id: a user-assigned one), which needs read access to the VM, its
              network interface and its public IP address (Reader on the resource group).

The file is replaced whole, or not at all: a value that cannot be had fails the run (exit
1) so the service does not start with a wrong address; systemd tries again.
OPENCVI_IMDS_ENDPOINT replaces http://169.254.169.254 (tests only).
"""

import ipaddress
import json
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

IMDS = os.environ.get("OPENCVI_IMDS_ENDPOINT", "http://169.254.169.254").rstrip("/")
SOURCES = ("vm-name", "private-ip", "public-ip")
VM_API = "2024-07-01"
NETWORK_API = "2024-05-01"
# IMDS is reached directly, never through a proxy (as Azure requires); so is Resource Manager.
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Failure(Exception):
    pass


def get_json(url, headers, what, attempts=3):
    last = None
    for attempt in range(attempts):
        try:
            with DIRECT.open(urllib.request.Request(url, headers=headers), timeout=10) as response:
                return json.load(response)
        except urllib.error.HTTPError as error:
            last = f"HTTP {error.code}"
            if error.code in (401, 403):
                # Not for a retry here: a role assignment takes minutes to arrive; systemd tries again.
                raise Failure(f"cannot read {what}: {last} (does the VM's identity hold Reader on the resource group?)") from None
        except (urllib.error.URLError, OSError, ValueError) as error:
            last = str(error)
        if attempt + 1 < attempts:
            time.sleep(2)
    raise Failure(f"cannot read {what}: {last}")


def imds(path):
    return get_json(f"{IMDS}/metadata/{path}", {"Metadata": "true"}, f"IMDS {path.split('?')[0]}")


class ResourceManager:
    def __init__(self, endpoint, client_id):
        self.endpoint = endpoint.rstrip("/")
        query = {"api-version": "2018-02-01", "resource": endpoint}
        if client_id:
            query["client_id"] = client_id
        token = imds("identity/oauth2/token?" + urllib.parse.urlencode(query))
        self.headers = {"Authorization": f"Bearer {token['access_token']}"}

    def get(self, resource_id, api_version):
        separator = "&" if "?" in resource_id else "?"
        return get_json(f"{self.endpoint}{resource_id}{separator}api-version={api_version}", self.headers, resource_id)

    def list(self, collection_id, api_version):
        page = self.get(collection_id, api_version)
        items = list(page.get("value", []))
        while page.get("nextLink"):
            page = get_json(page["nextLink"], self.headers, collection_id)
            items.extend(page.get("value", []))
        return items


def primary(items):
    """The item marked primary, or the only one."""
    marked = [i for i in items if i.get("properties", {}).get("primary")]
    if marked:
        return marked[0]
    if len(items) == 1:
        return items[0]
    raise Failure(f"no primary among {len(items)} items")


def public_ip(compute, args):
    arm = ResourceManager(args["resource_manager"], args["client_id"])
    vm_id = compute["resourceId"]
    vm = arm.get(vm_id, VM_API)
    nic_refs = vm.get("properties", {}).get("networkProfile", {}).get("networkInterfaces", [])
    if nic_refs:
        nic = arm.get(primary(nic_refs)["id"], NETWORK_API)
    else:
        # A VM model that lists no interfaces (one made from a scale set's profile may not):
        # the interface that names this VM as its own.
        group = vm_id.split("/providers/")[0]
        nics = [
            n
            for n in arm.list(f"{group}/providers/Microsoft.Network/networkInterfaces", NETWORK_API)
            if n.get("properties", {}).get("virtualMachine", {}).get("id", "").lower() == vm_id.lower()
        ]
        if not nics:
            raise Failure(f"no network interface of {vm_id}")
        nic = primary(nics)
    configuration = primary(nic["properties"]["ipConfigurations"])
    address = configuration["properties"].get("publicIPAddress")
    if not address:
        raise Failure(f"{nic['id']} has no public IP address")
    return arm.get(address["id"], NETWORK_API)["properties"].get("ipAddress", "")


def parse(argv):
    args = {"client_id": "", "resource_manager": "https://management.azure.com/", "file": None, "settings": []}
    rest = list(argv)
    while rest and rest[0].startswith("--"):
        option = rest.pop(0)
        if option not in ("--client-id", "--resource-manager") or not rest:
            raise Failure(f"unknown option or missing value: {option}")
        args[option[2:].replace("-", "_")] = rest.pop(0)
    if not rest:
        raise Failure("usage: opencvi-instance-env [--client-id ID] [--resource-manager URL] FILE NAME=SOURCE...")
    args["file"] = rest.pop(0)
    for setting in rest:
        match = re.fullmatch(r"([A-Z][A-Z0-9_]*)=([a-z-]+)", setting)
        if not match or match.group(2) not in SOURCES:
            raise Failure(f"{setting}: expected NAME=SOURCE with SOURCE one of {', '.join(SOURCES)}")
        args["settings"].append((match.group(1), match.group(2)))
    return args


def main(argv):
    args = parse(argv)
    instance = imds("instance?api-version=2021-02-01")
    compute = instance["compute"]
    address = primary_address(instance)
    values = {"vm-name": compute.get("name", ""), "private-ip": address.get("privateIpAddress", "")}
    if any(source == "public-ip" for _, source in args["settings"]):
        values["public-ip"] = address.get("publicIpAddress") or public_ip(compute, args)
    lines = []
    for name, source in args["settings"]:
        value = values[source]
        if source == "vm-name":
            if not re.fullmatch(r"[A-Za-z0-9._-]{1,128}", value):
                raise Failure(f"the VM name {value!r} is no valid {name}")
        else:
            try:
                ipaddress.IPv4Address(value)
            except ValueError:
                raise Failure(f"{source} {value!r} is no IPv4 address") from None
        lines.append(f"{name}={value}\n")
    directory = os.path.dirname(os.path.abspath(args["file"]))
    os.makedirs(directory, mode=0o755, exist_ok=True)
    temporary = f"{args['file']}.new"
    with open(temporary, "w", encoding="ascii") as file:
        file.writelines(lines)
    os.chmod(temporary, 0o644)
    os.replace(temporary, args["file"])


def primary_address(instance):
    """IPv4 address 0 of the first interface: the primary one (IMDS lists it first for a VM with one NIC)."""
    interfaces = instance.get("network", {}).get("interface", [])
    addresses = interfaces[0]["ipv4"]["ipAddress"] if interfaces else []
    if not addresses:
        raise Failure("IMDS reports no IPv4 address")
    return addresses[0]


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except Failure as failure:
        print(f"opencvi-instance-env: {failure}", file=sys.stderr)
        sys.exit(1)
    except (KeyError, IndexError, TypeError) as error:
        print(f"opencvi-instance-env: unexpected answer from IMDS or Resource Manager: {error!r}", file=sys.stderr)
        sys.exit(1)
