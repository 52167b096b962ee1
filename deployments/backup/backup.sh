#!/usr/bin/env bash
# Back up Carbon Nexus into <backups>/<UTC timestamp>[-local]/: one .tar.gz per volume or directory, a
# MANIFEST and a SHA256SUMS (written last: a directory without it is incomplete; restore.sh refuses it).
#
# compose mode (default): every named volume of the compose file, as `docker compose config --volumes`
#   lists it (no hard-coded list), archived with a throw-away alpine container, plus a pg_dump (custom
#   format) of the `postgres` container's carbon_nexus database when that container runs. Volume names
#   are <project>_<volume> with the project named as compose names it (COMPOSE_PROJECT_NAME, .env,
#   else the compose file's directory: lower-cased, only [a-z0-9_-] kept, leading - and _ dropped; compose
#   v2 is asked directly), or the volume's own `name:`/external name.
# --local: what `make up` keeps: var/ (without var/run) and mlflow/. Safe while the platform runs: every
#   SQLite file (found by its header) is copied with SQLite's online backup (sqlite3 CLI `.backup`, else
#   Python's sqlite3 backup API), so the data core, Prefect and MLflow databases are consistent snapshots
#   including what is still in their WAL; other files (logs, artifacts, caches) are copied as they are.
#
# restore.sh sources this file for its helpers (the code below the helpers runs only when executed).
set -euo pipefail

BACKUP_ROOT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DOCKER="${DOCKER:-docker}"
HELPER_IMAGE="${BACKUP_HELPER_IMAGE:-alpine:3.20}"
PG_CONTAINER="${POSTGRES_CONTAINER:-postgres}"
DRY=0

die() { echo "${0##*/}: error: $*" >&2; exit 1; }
note() { echo "$*" >&2; }

# a word as the shell reads it back: bare when safe, else in single quotes
shq() {
  case "$1" in
    "" | *[!A-Za-z0-9_./:=@%+,-]*) printf "'%s'" "${1//\'/\'\\\'\'}" ;;
    *) printf '%s' "$1" ;;
  esac
}

# print a command (dry run) or run it
run() {
  local a
  if [ "$DRY" = 1 ]; then printf '+'; for a in "$@"; do printf ' %s' "$(shq "$a")"; done; printf '\n'; else "$@"; fi
}

# the same with stdout to (">") or stdin from ("<") a file: run_io ">" FILE command ...
run_io() {
  local op="$1" file="$2"; shift 2
  if [ "$DRY" = 1 ]; then run "$@" | tr -d '\n'; printf ' %s %s\n' "$op" "$(shq "$file")"
  elif [ "$op" = ">" ]; then "$@" > "$file"
  else "$@" < "$file"
  fi
}

# an absolute path: relative ones are taken from $2 (default: the current directory)
abspath() {
  case "$1" in /*) printf '%s\n' "$1" ;; *) printf '%s/%s\n' "${2:-$PWD}" "$1" ;; esac
}

# the directories `make up` keeps (env overrides are relative to the repository root)
local_dirs() {
  VAR_DIR="$(abspath "${CARBON_NEXUS_VAR:-var}" "$BACKUP_ROOT_DIR")"
  MLFLOW_DIR="$(abspath "${CARBON_NEXUS_MLFLOW:-mlflow}" "$BACKUP_ROOT_DIR")"
}

require_docker() {
  command -v "$DOCKER" >/dev/null 2>&1 \
    || die "docker CLI not found ('$DOCKER'); install Docker or set DOCKER=/path/to/docker"
  "$DOCKER" info >/dev/null 2>&1 \
    || die "cannot reach the Docker engine ('$DOCKER info' failed): is it running, may you use it?"
}

# COMPOSE=(docker compose) when the v2 plugin exists, else (docker-compose)
detect_compose() {
  if "$DOCKER" compose version >/dev/null 2>&1; then COMPOSE=("$DOCKER" compose); COMPOSE_V=2
  elif command -v docker-compose >/dev/null 2>&1; then COMPOSE=(docker-compose); COMPOSE_V=1
  else die "neither 'docker compose' (v2 plugin) nor 'docker-compose' is installed"
  fi
}

# CARGS=(-f file ...): the -f options given, else COMPOSE_FILE (a list, as compose reads it), else compose.yaml
compose_files() {
  local f list
  CARGS=()
  if [ ${#FILES[@]} -eq 0 ]; then
    if [ -n "${COMPOSE_FILE:-}" ]; then
      IFS="${COMPOSE_PATH_SEPARATOR:-:}" read -r -a list <<<"$COMPOSE_FILE"
      for f in "${list[@]}"; do FILES+=("$(abspath "$f")"); done
    else
      FILES=("$BACKUP_ROOT_DIR/compose.yaml")
    fi
  fi
  for f in "${FILES[@]}"; do
    [ -f "$f" ] || die "compose file not found: $f"
    CARGS+=(-f "$f")
  done
}

normalize_project() { printf '%s' "$1" | tr '[:upper:]' '[:lower:]' | tr -cd 'a-z0-9_-' | sed 's/^[-_]*//'; }

# PROJECT, VOL_KEYS[] and VOL_NAMES[] (docker volume names) from the compose file itself
compose_model() {
  local config keys raw dir key name ext line
  detect_compose
  compose_files
  config="$("${COMPOSE[@]}" "${CARGS[@]}" config 2>&1)" || die "'${COMPOSE[*]} config' failed:
$config"
  raw=""
  if [ "$COMPOSE_V" = 2 ]; then  # v2 prints the project name it resolved (env, .env, name:, directory)
    raw="$(printf '%s\n' "$config" | sed -n 's/^name: *//p' | head -n 1 | tr -d "\"'")"
  fi
  if [ -z "$raw" ]; then  # v1: COMPOSE_PROJECT_NAME, then .env of the project directory, then its name
    dir="$(dirname "${FILES[0]}")"
    raw="${COMPOSE_PROJECT_NAME:-}"
    if [ -z "$raw" ] && [ -f "$dir/.env" ]; then
      raw="$(sed -n 's/^[[:space:]]*COMPOSE_PROJECT_NAME[[:space:]]*=[[:space:]]*//p' "$dir/.env" \
        | tail -n 1 | tr -d "\"'\r")"
    fi
    [ -n "$raw" ] || raw="$(basename "$(cd "$dir" && pwd -P)")"
  fi
  PROJECT="$(normalize_project "$raw")"
  [ -n "$PROJECT" ] || PROJECT=default
  keys="$("${COMPOSE[@]}" "${CARGS[@]}" config --volumes 2>&1)" || die "'${COMPOSE[*]} config --volumes' failed:
$keys"
  # explicit names (name:, external) from the top-level volumes: section of the resolved config
  declare -gA VOL_NAME_OF=() VOL_EXTERNAL=()
  while IFS=$'\t' read -r key name ext; do
    [ -n "$key" ] || continue
    if [ -n "$name" ]; then VOL_NAME_OF["$key"]="$name"; fi
    if [ "$ext" = true ]; then VOL_EXTERNAL["$key"]=1; fi
  done < <(printf '%s\n' "$config" | awk '
    /^[^ #]/ { if (k != "") print k "\t" n "\t" e; k = ""; insec = ($0 ~ /^volumes:/); next }
    !insec { next }
    /^  [^ ]/ { if (k != "") print k "\t" n "\t" e; k = $0; sub(/^  /, "", k); sub(/:( .*)?$/, "", k)
                gsub(/["\047]/, "", k); n = ""; e = ""; next }
    /^    name:/ { n = $0; sub(/^    name: */, "", n); gsub(/["\047]/, "", n); next }
    /^    external: *true/ { e = "true"; next }
    END { if (k != "") print k "\t" n "\t" e }')
  VOL_KEYS=(); VOL_NAMES=()
  while IFS= read -r line; do
    [ -n "$line" ] || continue
    VOL_KEYS+=("$line")
    if [ -n "${VOL_NAME_OF[$line]:-}" ]; then VOL_NAMES+=("${VOL_NAME_OF[$line]}")
    elif [ -n "${VOL_EXTERNAL[$line]:-}" ]; then VOL_NAMES+=("$line")
    else VOL_NAMES+=("${PROJECT}_${line}")
    fi
  done <<<"$keys"
}

# the docker volume name of a compose volume key ("" when the compose file has no such volume)
volume_name() {
  local i
  for i in "${!VOL_KEYS[@]}"; do
    if [ "${VOL_KEYS[$i]}" = "$1" ]; then printf '%s\n' "${VOL_NAMES[$i]}"; return 0; fi
  done
  printf '\n'
}

is_sqlite() { [ "$(head -c 15 -- "$1" 2>/dev/null | tr -d '\000')" = "SQLite format 3" ]; }

# a consistent copy of a live SQLite database: sqlite_snapshot LIVE DEST
sqlite_snapshot() {
  local tool="${BACKUP_SQLITE_TOOL:-auto}" py
  if [ "$tool" = auto ]; then
    if command -v sqlite3 >/dev/null 2>&1 && [[ "$2" != *"'"* ]]; then tool=sqlite3; else tool=python; fi
  fi
  if [ "$tool" = sqlite3 ]; then
    sqlite3 -readonly -cmd ".timeout 30000" "$1" ".backup '$2'" || die "sqlite3 .backup of $1 failed"
  else
    py="$BACKUP_ROOT_DIR/.venv/bin/python"
    [ -x "$py" ] || py="$(command -v python3)" || die "neither sqlite3 nor python3 found to copy $1"
    "$py" - "$1" "$2" <<'EOF' || die "python sqlite3 backup of $1 failed"
import pathlib, sqlite3, sys
src = sqlite3.connect(pathlib.Path(sys.argv[1]).resolve().as_uri() + "?mode=ro", uri=True, timeout=30)
dst = sqlite3.connect(sys.argv[2])
src.backup(dst)
dst.close()
src.close()
EOF
  fi
  is_sqlite "$2" || die "the copy of $1 is not an SQLite database"
}

# archive a live directory: stage a copy, replace its SQLite files with snapshots, tar the stage
archive_dir() {  # archive_dir LIVE_DIR ARCHIVE [excluded top-level entry]
  local live="$1" archive="$2" exclude="${3:-}" stage rel f
  stage="$(dirname "$archive")/.stage-$(basename "$archive" .tar.gz)"
  mkdir "$stage"
  cp -a -- "$live/." "$stage/"
  [ -z "$exclude" ] || rm -rf -- "${stage:?}/$exclude"
  while IFS= read -r -d '' f <&3; do
    is_sqlite "$f" || continue
    rel="${f#"$stage"/}"
    [ -f "$live/$rel" ] || continue
    rm -f -- "$f" "$f-wal" "$f-shm" "$f-journal"
    sqlite_snapshot "$live/$rel" "$f"
    echo "  sqlite snapshot: $(basename "$live")/$rel"
  done 3< <(find "$stage" -type f -size +511c ! -name '*-wal' ! -name '*-shm' ! -name '*-journal' -print0)
  tar czf "$archive" -C "$stage" .
  rm -rf -- "$stage"
}

# on failure, no half-written backup is left behind
cleanup_partial() { if [ -n "${PART:-}" ]; then rm -rf -- "$PART"; fi; }

finish_backup() {  # MANIFEST, SHA256SUMS, then the partial directory becomes the backup
  local part="$1" out="$2"
  (cd "$part" && sha256sum -- * > SHA256SUMS)
  mv -- "$part" "$out"
  PART=""
  echo "backup complete: $out"
}

usage() {
  cat <<'EOF'
usage: deployments/backup/backup.sh [--local] [--dry-run] [-f compose.yaml]... [-o DIR] [volume ...]
  (default)   compose volumes (all, or those named) + pg_dump of carbon_nexus -> DIR/<UTC timestamp>/
  --local     var/ and mlflow/ of `make up` (safe while it runs) -> DIR/<UTC timestamp>-local/
  -n, --dry-run  print the docker commands instead of running them (compose mode)
  -f FILE     compose file (repeatable; default: $COMPOSE_FILE, else compose.yaml)
  -o DIR      backups directory (default: $CARBON_NEXUS_BACKUPS, else backups/)
env: COMPOSE_PROJECT_NAME, DOCKER, CARBON_NEXUS_VAR (var), CARBON_NEXUS_MLFLOW (mlflow)
EOF
}

backup_local() {
  local out part name dir outroot_real
  if [ ${#FILES[@]} -gt 0 ] || [ ${#ARGS[@]} -gt 0 ]; then die "--local takes no compose file and no volume names"; fi
  local_dirs
  [ -d "$VAR_DIR" ] || [ -d "$MLFLOW_DIR" ] || die "nothing to back up: neither $VAR_DIR nor $MLFLOW_DIR exists"
  out="$OUT_ROOT/$(date -u +%Y%m%dT%H%M%SZ)-local"
  if [ "$DRY" = 1 ]; then
    if [ -d "$VAR_DIR" ]; then echo "would archive $VAR_DIR (without run/) -> $out/var.tar.gz"; fi
    if [ -d "$MLFLOW_DIR" ]; then echo "would archive $MLFLOW_DIR -> $out/mlflow.tar.gz"; fi
    return 0
  fi
  mkdir -p "$OUT_ROOT"
  outroot_real="$(cd "$OUT_ROOT" && pwd -P)/"
  for dir in "$VAR_DIR" "$MLFLOW_DIR"; do
    [ -d "$dir" ] || continue
    case "$outroot_real" in "$(cd "$dir" && pwd -P)/"*) die "the backups directory $OUT_ROOT is inside $dir" ;; esac
  done
  [ ! -e "$out" ] || die "$out already exists (another backup this second?)"
  part="$out.partial"; PART="$part"
  mkdir "$part"
  for name in var mlflow; do
    if [ "$name" = var ]; then dir="$VAR_DIR"; else dir="$MLFLOW_DIR"; fi
    if [ ! -d "$dir" ]; then echo "skip $name (no $dir)"; continue; fi
    echo "$name: $dir"
    if [ "$name" = var ]; then archive_dir "$dir" "$part/var.tar.gz" run
    else archive_dir "$dir" "$part/mlflow.tar.gz"
    fi
    echo "$name -> $out/$name.tar.gz"
  done
  printf 'mode=local\ncreated=%s\nvar=%s\nmlflow=%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$VAR_DIR" "$MLFLOW_DIR" \
    > "$part/MANIFEST"
  finish_backup "$part" "$out"
}

backup_compose() {
  local out part key name selected=() dumped=no saved=0 running rc
  [ "$DRY" = 1 ] || require_docker
  compose_model
  [ ${#VOL_KEYS[@]} -gt 0 ] || die "the compose file declares no named volumes"
  if [ ${#ARGS[@]} -gt 0 ]; then
    for key in "${ARGS[@]}"; do
      [ -n "$(volume_name "$key")" ] || die "no volume '$key' in the compose file (it has: ${VOL_KEYS[*]})"
      selected+=("$key")
    done
  else
    selected=("${VOL_KEYS[@]}")
  fi
  out="$OUT_ROOT/$(date -u +%Y%m%dT%H%M%SZ)"
  echo "project $PROJECT (compose ${COMPOSE[*]}), volumes: ${selected[*]}"
  if [ "$DRY" = 1 ]; then
    echo "dry run: would write $out"
    echo "# if container $PG_CONTAINER runs:"
    run "$DOCKER" ps -q --filter "name=^${PG_CONTAINER}\$" --filter status=running
    run_io ">" "$out/carbon_nexus.pgdump" \
      "$DOCKER" exec "$PG_CONTAINER" pg_dump -U carbon -d carbon_nexus --format=custom
    for key in "${selected[@]}"; do
      name="$(volume_name "$key")"
      run "$DOCKER" volume inspect "$name"
      run "$DOCKER" run --rm -v "$name:/data:ro" -v "$out:/backup" "$HELPER_IMAGE" \
        tar czf "/backup/$key.tar.gz" -C /data .
    done
    return 0
  fi
  mkdir -p "$OUT_ROOT"
  [ ! -e "$out" ] || die "$out already exists (another backup this second?)"
  part="$out.partial"; PART="$part"
  mkdir "$part"
  running="$("$DOCKER" ps -q --filter "label=com.docker.compose.project=$PROJECT")"
  if [ -n "$running" ]; then
    note "note: the stack runs, so volumes are archived live; the pg_dump is the consistent copy of carbon_nexus"
    note "      (for consistent copies of every volume: '${COMPOSE[*]} stop' first, 'start' after)"
  fi
  if [ -n "$("$DOCKER" ps -q --filter "name=^${PG_CONTAINER}\$" --filter status=running)" ]; then
    run_io ">" "$part/carbon_nexus.pgdump" \
      "$DOCKER" exec "$PG_CONTAINER" pg_dump -U carbon -d carbon_nexus --format=custom \
      || die "pg_dump in container $PG_CONTAINER failed"
    dumped=yes
    echo "database -> $out/carbon_nexus.pgdump"
  else
    echo "no running $PG_CONTAINER container: no pg_dump (the postgres-data volume is still archived)"
  fi
  for key in "${selected[@]}"; do
    name="$(volume_name "$key")"
    if ! "$DOCKER" volume inspect "$name" >/dev/null 2>&1; then echo "skip $key (no volume $name)"; continue; fi
    # GNU tar exits 1 when a file changed while it was read: expected of a live volume (a database's WAL),
    # whose archive is then a live copy (noted above); any other failure, or a change while stopped, is an error
    rc=0
    "$DOCKER" run --rm -v "$name:/data:ro" -v "$part:/backup" "$HELPER_IMAGE" tar czf "/backup/$key.tar.gz" -C /data . \
      || rc=$?
    if [ "$rc" = 1 ] && [ -n "$running" ]; then
      note "note: volume $name changed while it was archived (the stack runs): its archive is a live copy"
    elif [ "$rc" != 0 ]; then
      die "archiving volume $name failed"
    fi
    saved=$((saved + 1))
    echo "volume $key ($name) -> $out/$key.tar.gz"
  done
  [ "$saved" -gt 0 ] || [ "$dumped" = yes ] \
    || die "nothing backed up: no volume of project '$PROJECT' exists (wrong COMPOSE_PROJECT_NAME?)"
  {
    printf 'mode=compose\ncreated=%s\nproject=%s\npgdump=%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$PROJECT" "$dumped"
    for key in "${selected[@]}"; do printf 'volume=%s %s\n' "$key" "$(volume_name "$key")"; done
  } > "$part/MANIFEST"
  finish_backup "$part" "$out"
}

backup_main() {
  local mode=compose
  FILES=(); ARGS=(); PART=""
  OUT_ROOT="$(abspath "${CARBON_NEXUS_BACKUPS:-backups}" "$BACKUP_ROOT_DIR")"
  while [ $# -gt 0 ]; do
    case "$1" in
      -h|--help) usage; exit 0 ;;
      --local) mode=local ;;
      -n|--dry-run) DRY=1 ;;
      -f|--file) [ $# -ge 2 ] || die "$1 needs a file"; FILES+=("$(abspath "$2")"); shift ;;
      -o|--out) [ $# -ge 2 ] || die "$1 needs a directory"; OUT_ROOT="$(abspath "$2")"; shift ;;
      --) shift; ARGS+=("$@"); break ;;
      -*) die "unknown option $1 (see -h)" ;;
      *) ARGS+=("$1") ;;
    esac
    shift
  done
  trap cleanup_partial EXIT
  if [ "$mode" = local ]; then backup_local; else backup_compose; fi
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  backup_main "$@"
fi
