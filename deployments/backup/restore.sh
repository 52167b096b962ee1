#!/usr/bin/env bash
# Restore volumes from a backup made by backup.sh. Stop the stack first (docker compose down): a volume is
# replaced as a whole. Usage: deployments/backup/restore.sh backups/<timestamp> [volume ...]
set -euo pipefail
cd "$(dirname "$0")/../.."
SRC="${1:?usage: restore.sh backups/<timestamp> [volume ...]}"; shift
PROJECT="${COMPOSE_PROJECT_NAME:-$(basename "$PWD" | tr '[:upper:]' '[:lower:]' | tr -cd 'a-z0-9_-')}"
(cd "$SRC" && sha256sum -c SHA256SUMS)
if [ $# -gt 0 ]; then ARCHIVES=("${@/%/.tar.gz}"); else ARCHIVES=($(cd "$SRC" && ls *.tar.gz)); fi
if docker ps --format '{{.Names}}' | grep -Eqx 'data-core|ml-engine|postgres'; then
  echo "stop the stack first (docker compose down)" >&2; exit 1
fi
for a in "${ARCHIVES[@]}"; do
  v="${a%.tar.gz}"; name="${PROJECT}_${v}"
  docker volume create "$name" >/dev/null
  docker run --rm -v "$name":/data -v "$PWD/$SRC":/backup:ro alpine:3.20 \
    sh -c "find /data -mindepth 1 -delete && tar xzf /backup/$a -C /data"
  echo "restored $v"
done
if [ -f "$SRC/carbon_nexus.pgdump" ]; then
  echo "a pg_dump is in $SRC: after 'docker compose up -d postgres', load it with"
  echo "  docker exec -i postgres pg_restore -U carbon -d carbon_nexus --clean --if-exists < $SRC/carbon_nexus.pgdump"
fi
