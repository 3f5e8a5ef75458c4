#!/bin/bash
# Container health check without curl: GET /health on 127.0.0.1:$1 over bash's /dev/tcp and succeed
# only on HTTP 200. Usage: healthcheck.sh PORT
set -u
port="${1:?usage: healthcheck.sh PORT}"
exec 3<>"/dev/tcp/127.0.0.1/${port}" || exit 1
printf 'GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' >&3
IFS= read -r -t 5 status <&3 || exit 1
exec 3<&-
case "$status" in
"HTTP/1."?" 200 "*) exit 0 ;;
*) exit 1 ;;
esac
