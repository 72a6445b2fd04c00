#!/usr/bin/env python3
"""Prints "<role> <image>" for every image the stand-ins must provide, read from the project's own
files so the names match EXACTLY: the infrastructure services of compose.yaml (by service name) and
the Dockerfile's node base image (ARG NODE_IMAGE=...). Uses PyYAML, which podman-compose brings."""
import re
import sys

import yaml

ROLES = ("postgres", "redis", "rabbitmq", "minio", "clamav", "mailpit")

compose_path, dockerfile_path = sys.argv[1], sys.argv[2]
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
