#!/bin/sh
# Container entry: builds DATABASE_URL from the parts ECS injects (DB_HOST, DB_PORT, DB_NAME from
# the task definition; DB_USER, DB_PASSWORD from the Secrets Manager secret), then runs the program.
# The generated password is restricted to URL-safe characters (see deploy/cdk/scalestream_stack.ts),
# so it needs no escaping here. An explicit DATABASE_URL always wins.
set -eu
if [ -z "${DATABASE_URL:-}" ] && [ -n "${DB_HOST:-}" ]; then
  : "${DB_USER:?DB_USER is required with DB_HOST}" "${DB_PASSWORD:?DB_PASSWORD is required with DB_HOST}"
  DATABASE_URL="postgres://${DB_USER}:${DB_PASSWORD}@${DB_HOST}:${DB_PORT:-5432}/${DB_NAME:-scalestream}?sslmode=${DB_SSLMODE:-verify-full}"
  export DATABASE_URL
fi
exec "${APP_BIN:-/app/scalestream}" "$@"
