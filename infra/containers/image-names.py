#!/usr/bin/env python3
"""Prints "<role> <image>" for every image the stand-ins must provide, read from the project's own
files so the names match EXACTLY: the infrastructure services of compose.yaml (by service name), the
Dockerfile's node base image (ARG NODE_IMAGE=...) and the offline override's ID.me provider.
Uses PyYAML, which podman-compose brings.
Usage: image-names.py <compose.yaml> <Dockerfile> <compose-override.offline.yaml>"""
import re
import sys

import yaml

ROLES = ("postgres", "redis", "rabbitmq", "minio", "clamav", "mailpit")

compose_path, dockerfile_path, override_path = sys.argv[1], sys.argv[2], sys.argv[3]
with open(compose_path, encoding="utf-8") as f:
    services = (yaml.safe_load(f) or {}).get("services", {})
with open(dockerfile_path, encoding="utf-8") as f:
    dockerfile = f.read()

match = re.search(r"^ARG NODE_IMAGE=(\S+)", dockerfile, re.M)
if not match:
    sys.exit(f"{dockerfile_path}: no 'ARG NODE_IMAGE=<image>' line")
print("node", match.group(1))
for role in ROLES:
    image = (services.get(role) or {}).get("image")
    if not image:
        sys.exit(f"{compose_path}: service '{role}' has no image")
    print(role, image)
with open(override_path, encoding="utf-8") as f:
    override = (yaml.safe_load(f) or {}).get("services", {})
image = (override.get("idme-oidc") or {}).get("image")
if not image:
    sys.exit(f"{override_path}: service 'idme-oidc' has no image")
print("idme-oidc", image)
