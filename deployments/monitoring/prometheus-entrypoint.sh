#!/bin/sh
# Prometheus' entrypoint (compose.yaml, profile "monitoring"; mounted read-only, run by the image's user).
# Prometheus takes secrets only from files: the scrape credentials go from the environment into files on the
# tmpfs /run/prometheus (mode 0700, Prometheus' user only), never into the image, a log or the command line:
#   read_token        READ_TOKEN, the bearer token of every service's /metrics
#   prefect_password  the password of PREFECT_API_AUTH_STRING ("user:password"), Prefect's /api/metrics
# basic_auth.username_file came with Prometheus 2.43 (Debian's, the stand-in where no registry answers, is
# 2.42), so Prefect's user is written into a copy of the configuration there instead: @PREFECT_USER@ in the
# file given by --config.file is replaced, and Prometheus reads the copy. Its other arguments pass unchanged.
set -eu
umask 077
secrets=/run/prometheus
user=${PREFECT_API_AUTH_STRING%%:*}
case $user in
  "" | *[!A-Za-z0-9._@-]*)
    echo "prometheus: the user of PREFECT_API_AUTH_STRING must be non-empty and of [A-Za-z0-9._@-]" >&2
    exit 1 ;;
esac
printf %s "$READ_TOKEN" > "$secrets/read_token"
printf %s "${PREFECT_API_AUTH_STRING#*:}" > "$secrets/prefect_password"
unset READ_TOKEN PREFECT_API_AUTH_STRING
for arg; do
  shift
  case $arg in
    --config.file=*)
      sed "s/@PREFECT_USER@/$user/g" "${arg#*=}" > "$secrets/prometheus.yml"
      arg=--config.file=$secrets/prometheus.yml ;;
  esac
  set -- "$@" "$arg"
done
cd /prometheus
exec /bin/prometheus "$@"
