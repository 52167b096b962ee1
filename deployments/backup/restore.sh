#!/usr/bin/env bash
# Restore a backup made by backup.sh. Nothing is touched before every archive's checksum (SHA256SUMS)
# verifies and the stack is found down.
#
# compose mode (default): each <volume>.tar.gz replaces the content of the compose volume of that name
#   (<project>_<volume>, created if missing) with a throw-away alpine container. Refused while a container
#   of the project, or one using such a volume, runs (docker compose down first). carbon_nexus.pgdump is
#   loaded with --with-database (starts the postgres service, waits for it, pg_restore --clean), else the
#   commands are printed.
# --local: var.tar.gz and mlflow.tar.gz replace var/ and mlflow/ (CARBON_NEXUS_VAR, CARBON_NEXUS_MLFLOW):
#   both are extracted to temporary directories next to them first, then swapped in with rename(2).
#   Refused while the platform runs (a var/run/*.pid whose process is alive: make down first).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/backup.sh"

usage() {
  cat <<'EOF'
usage: deployments/backup/restore.sh [--local] [--dry-run] [--with-database] [--keep-old] [-f compose.yaml]...
                                     backups/<timestamp> [volume|var|mlflow ...]
  (default)        restore compose volumes (all archives in the backup, or those named); stack must be down
  --with-database  also load carbon_nexus.pgdump into the postgres service (started for it)
  --local          restore var/ and mlflow/ of `make up`; the platform must be stopped (make down)
  --keep-old       --local: keep the replaced directories as <dir>.pre-restore-<UTC timestamp>
  -n, --dry-run    verify, then print the docker commands (compose) or the swaps (local) instead
  -f FILE          compose file (repeatable; default: $COMPOSE_FILE, else compose.yaml)
env: COMPOSE_PROJECT_NAME, DOCKER, CARBON_NEXUS_VAR (var), CARBON_NEXUS_MLFLOW (mlflow)
EOF
}

# the backup's mode from its MANIFEST ("" for backups made before there was one)
manifest_mode() { if [ -f "$SRC/MANIFEST" ]; then sed -n 's/^mode=//p' "$SRC/MANIFEST" | head -n 1; fi; }

# on failure, the temporary directories of an unfinished local restore go
cleanup_tmps() { local t; for t in "${TMPS[@]}"; do rm -rf -- "$t"; done; }

# verify_backup FILE...: each file to restore is listed in SHA256SUMS, and every listed file matches
verify_backup() {
  local a
  [ -d "$SRC" ] || die "no backup directory $SRC"
  [ -f "$SRC/SHA256SUMS" ] || die "$SRC has no SHA256SUMS: not a backup, or an incomplete one; nothing restored"
  [ $# -gt 0 ] || die "nothing to restore in $SRC"
  for a in "$@"; do
    [ -f "$SRC/$a" ] || die "$SRC has no $a"
    awk -v f="$a" '{ n = $2; sub(/^\*/, "", n) } n == f { found = 1 } END { exit !found }' "$SRC/SHA256SUMS" \
      || die "$a is not listed in $SRC/SHA256SUMS; nothing restored"
  done
  (cd "$SRC" && sha256sum --quiet --strict -c SHA256SUMS) >&2 \
    || die "checksum verification failed in $SRC; nothing restored"
  echo "checksums ok: $*"
}

restore_local() {
  local a name target f pid tmp old stamp i
  local -a targets=() tmps=()
  local_dirs
  [ "$WITH_DB" = 0 ] || die "--with-database is for compose backups"
  [ "$(manifest_mode)" != compose ] || die "$SRC is a compose backup: restore it without --local"
  ARCHIVES=()
  if [ ${#ARGS[@]} -gt 0 ]; then
    for name in "${ARGS[@]}"; do
      case "$name" in
        var|mlflow) ARCHIVES+=("$name.tar.gz") ;;
        *) die "--local restores var and mlflow, not '$name'" ;;
      esac
    done
  else
    for name in var mlflow; do [ ! -f "$SRC/$name.tar.gz" ] || ARCHIVES+=("$name.tar.gz"); done
  fi
  # refuse while the platform runs (services/platform.py keeps each service's pid in var/run/<name>.pid)
  for f in "$VAR_DIR"/run/*.pid; do
    [ -f "$f" ] || continue
    pid="$(tr -cd '0-9' < "$f")"
    if [ -z "$pid" ] || [ "$pid" = 0 ]; then continue; fi
    if kill -0 "$pid" 2>/dev/null || [ -d "/proc/$pid" ]; then
      die "the platform is running ($(basename "$f" .pid), pid $pid): stop it first (make down); nothing restored"
    fi
  done
  verify_backup "${ARCHIVES[@]}"
  for a in "${ARCHIVES[@]}"; do
    if [ "$a" = var.tar.gz ]; then targets+=("$VAR_DIR"); else targets+=("$MLFLOW_DIR"); fi
  done
  if [ "$DRY" = 1 ]; then
    for i in "${!ARCHIVES[@]}"; do echo "would replace ${targets[$i]} with $SRC/${ARCHIVES[$i]}"; done
    return 0
  fi
  # extract everything next to its target first: a failure here leaves the current data untouched
  TMPS=()
  for i in "${!ARCHIVES[@]}"; do
    target="${targets[$i]}"
    mkdir -p "$(dirname "$target")"
    tmp="$(mktemp -d "$(dirname "$target")/.$(basename "$target").restore.XXXXXX")"
    TMPS+=("$tmp")
    tar xzf "$SRC/${ARCHIVES[$i]}" -C "$tmp" || die "extracting ${ARCHIVES[$i]} failed; nothing restored"
    tmps+=("$tmp")
  done
  stamp="$(date -u +%Y%m%dT%H%M%SZ)"
  for i in "${!tmps[@]}"; do
    target="${targets[$i]}"; tmp="${tmps[$i]}"
    if [ -e "$target" ]; then
      if [ "$KEEP_OLD" = 1 ]; then old="$target.pre-restore-$stamp"
      else old="$(dirname "$target")/.$(basename "$target").old.$stamp.$$"
      fi
      mv -- "$target" "$old"
      mv -- "$tmp" "$target"
      if [ "$KEEP_OLD" = 1 ]; then echo "kept the previous $(basename "$target") as $old"; else rm -rf -- "$old"; fi
    else
      mv -- "$tmp" "$target"
    fi
    echo "restored $target from ${ARCHIVES[$i]}"
  done
  TMPS=()
  echo "restore complete; start the platform with: make up"
}

restore_compose() {
  local a key name dump="$SRC/carbon_nexus.pgdump" busy n
  local -a names=()
  [ "$KEEP_OLD" = 0 ] || die "--keep-old is for --local restores"
  [ "$(manifest_mode)" != local ] || die "$SRC is a --local backup: restore it with --local"
  ARCHIVES=()
  if [ ${#ARGS[@]} -gt 0 ]; then
    for key in "${ARGS[@]}"; do ARCHIVES+=("$key.tar.gz"); done
  else
    for a in "$SRC"/*.tar.gz; do [ ! -f "$a" ] || ARCHIVES+=("$(basename "$a")"); done
  fi
  if [ -f "$dump" ]; then
    verify_backup "${ARCHIVES[@]}" carbon_nexus.pgdump
    [ ${#ARCHIVES[@]} -gt 0 ] || [ "$WITH_DB" = 1 ] || die "$SRC holds only a pg_dump: restore it with --with-database"
  else
    [ "$WITH_DB" = 0 ] || die "--with-database: $SRC has no carbon_nexus.pgdump"
    verify_backup "${ARCHIVES[@]}"
  fi
  [ "$DRY" = 1 ] || require_docker
  compose_model
  for a in "${ARCHIVES[@]}"; do
    key="${a%.tar.gz}"
    name="$(volume_name "$key")"
    [ -n "$name" ] || die "$a: the compose file has no volume '$key' (it has: ${VOL_KEYS[*]}); nothing restored"
    names+=("$name")
  done
  echo "project $PROJECT (compose ${COMPOSE[*]})"
  # the stack must be down: no running container of the project, none using a volume to replace
  if [ "$DRY" = 1 ]; then
    echo "# refused if any of these lists a container:"
    run "$DOCKER" ps -q --filter "label=com.docker.compose.project=$PROJECT"
    for name in "${names[@]}"; do run "$DOCKER" ps -q --filter "volume=$name"; done
  else
    busy="$("$DOCKER" ps --format '{{.Names}}' --filter "label=com.docker.compose.project=$PROJECT")"
    for name in "${names[@]}"; do
      busy="$busy$("$DOCKER" ps --format '{{.Names}}' --filter "volume=$name")"
    done
    [ -z "$busy" ] || die "the stack is running ($(echo "$busy" | sort -u | tr '\n' ' ')): stop it first" \
      "(${COMPOSE[*]} down); nothing restored"
  fi
  for a in "${ARCHIVES[@]}"; do
    key="${a%.tar.gz}"; name="$(volume_name "$key")"
    run_io ">" /dev/null "$DOCKER" volume create "$name"
    # shellcheck disable=SC2016  # $1 expands in the helper container's shell, not here
    run "$DOCKER" run --rm -v "$name:/data" -v "$SRC:/backup:ro" "$HELPER_IMAGE" \
      sh -c 'find /data -mindepth 1 -delete && tar xzf "/backup/$1" -C /data' restore "$a" \
      || die "restoring volume $name from $a failed"
    echo "restored $key ($name)"
  done
  [ -f "$dump" ] || return 0
  if [ "$WITH_DB" = 1 ]; then
    run "${COMPOSE[@]}" "${CARGS[@]}" -p "$PROJECT" up -d postgres
    if [ "$DRY" = 1 ]; then
      echo "# wait until it answers:"
      run "$DOCKER" exec "$PG_CONTAINER" pg_isready -h 127.0.0.1 -U carbon -d carbon_nexus
    else
      n=0
      until "$DOCKER" exec "$PG_CONTAINER" pg_isready -q -h 127.0.0.1 -U carbon -d carbon_nexus; do
        n=$((n + 1)); [ "$n" -lt 60 ] || die "postgres did not become ready within 120 s"
        sleep 2
      done
    fi
    run_io "<" "$dump" \
      "$DOCKER" exec -i "$PG_CONTAINER" pg_restore -U carbon -d carbon_nexus --clean --if-exists --no-owner \
      || die "pg_restore reported errors (see above)"
    echo "database carbon_nexus restored from $dump"
  else
    echo "the backup has a pg_dump; load it with --with-database, or:"
    echo "  ${COMPOSE[*]} ${CARGS[*]} -p $PROJECT up -d postgres"
    echo "  $DOCKER exec -i $PG_CONTAINER pg_restore -U carbon -d carbon_nexus --clean --if-exists --no-owner < $dump"
  fi
}

restore_main() {
  local mode=compose
  FILES=(); ARGS=(); TMPS=(); SRC=""; WITH_DB=0; KEEP_OLD=0
  while [ $# -gt 0 ]; do
    case "$1" in
      -h|--help) usage; exit 0 ;;
      --local) mode=local ;;
      -n|--dry-run) DRY=1 ;;
      --with-database) WITH_DB=1 ;;
      --keep-old) KEEP_OLD=1 ;;
      -f|--file) [ $# -ge 2 ] || die "$1 needs a file"; FILES+=("$(abspath "$2")"); shift ;;
      --) shift; ARGS+=("$@"); break ;;
      -*) die "unknown option $1 (see -h)" ;;
      *) if [ -z "$SRC" ]; then SRC="$1"; else ARGS+=("$1"); fi ;;
    esac
    shift
  done
  if [ -z "$SRC" ] && [ ${#ARGS[@]} -gt 0 ]; then SRC="${ARGS[0]}"; ARGS=("${ARGS[@]:1}"); fi
  [ -n "$SRC" ] || { usage >&2; exit 2; }
  SRC="$(abspath "${SRC%/}")"
  [ -d "$SRC" ] || die "no backup directory $SRC"
  [ -f "$SRC/SHA256SUMS" ] || die "$SRC has no SHA256SUMS: not a backup, or an incomplete one; nothing restored"
  trap cleanup_tmps EXIT
  if [ "$mode" = local ]; then restore_local; else restore_compose; fi
}

restore_main "$@"
