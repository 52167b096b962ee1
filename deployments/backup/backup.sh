#!/usr/bin/env bash
# Back up Carbon Nexus's compose volumes into ./backups/<timestamp>/ (one .tar.gz per volume), plus a
# consistent pg_dump of the data core's database when its container runs.
# Usage: deployments/backup/backup.sh [volume ...]   (default: every volume of compose.yaml)
set -euo pipefail
cd "$(dirname "$0")/../.."
PROJECT="${COMPOSE_PROJECT_NAME:-$(basename "$PWD" | tr '[:upper:]' '[:lower:]' | tr -cd 'a-z0-9_-')}"
VOLUMES=("$@")
if [ ${#VOLUMES[@]} -eq 0 ]; then
  VOLUMES=(postgres-data prefect-db-data prefect-data mlflow-data ml-models ml-data orchestration-logs inbox rag-cache)
fi
OUT="backups/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$OUT"
if docker ps --format '{{.Names}}' | grep -qx postgres; then
  docker exec postgres pg_dump -U carbon -d carbon_nexus --format=custom > "$OUT/carbon_nexus.pgdump"
  echo "database: $OUT/carbon_nexus.pgdump"
fi
for v in "${VOLUMES[@]}"; do
  name="${PROJECT}_${v}"
  if ! docker volume inspect "$name" >/dev/null 2>&1; then echo "skip $v (no volume $name)"; continue; fi
  docker run --rm -v "$name":/data:ro -v "$PWD/$OUT":/backup alpine:3.20 tar czf "/backup/$v.tar.gz" -C /data .
  echo "volume $v: $OUT/$v.tar.gz"
done
sha256sum "$OUT"/* > "$OUT/SHA256SUMS"
echo "backup complete: $OUT"
