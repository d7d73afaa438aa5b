#!/usr/bin/env bash
# The shell baseline for `aigw-installer detect --json`: the commands an admin would run to gather the
# same facts by hand (engine, CPU, memory, disks, listening ports; nvidia-smi where a driver exists).
docker info --format '{{json .}}' >/dev/null 2>&1
lscpu >/dev/null
free -m >/dev/null
df -P /var/lib/docker /srv >/dev/null 2>&1
ss -ltn >/dev/null
if command -v nvidia-smi >/dev/null 2>&1; then nvidia-smi -q >/dev/null 2>&1; fi
exit 0
