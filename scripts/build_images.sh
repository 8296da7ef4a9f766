#!/usr/bin/env bash
# Builds airbyte/destination-listmonk and airbyte/source-listmonk (tags `dev` and the connector version) with
# podman, without any container registry: FROM a stand-in for Airbyte's Python connector base, made here from
# Debian bookworm (Python 3.11, like the base image) with debootstrap. Needs root on Debian; installs podman,
# runc and debootstrap if missing. Where a registry is reachable, build FROM the real base instead:
#   docker build --target destination -t airbyte/destination-listmonk:dev .
# Environment: BASE_IMAGE (use this base, skip the stand-in), DEBIAN_MIRROR (default: the mirror apt uses here),
# REBUILD_BASE=1 (make the stand-in again).
set -euo pipefail
cd "$(dirname "$0")/.."

export CONTAINERS_CONF="${CONTAINERS_CONF:-$PWD/scripts/podman/containers.conf}"
STANDIN=localhost/listmonk-connector-base:bookworm
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
VERSION=$(sed -n 's/^ *dockerImageTag: *//p' destination_listmonk/metadata.yaml)

log() { printf '== %s\n' "$*" >&2; }

install_tools() {
  local missing=()
  for tool in podman runc debootstrap; do
    command -v "$tool" >/dev/null || missing+=("$tool")
  done
  [ ${#missing[@]} -eq 0 ] && return
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    echo "missing ${missing[*]}: install them (Debian: apt-get install podman runc debootstrap) or run as root" >&2
    exit 1
  fi
  log "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc debootstrap >/dev/null
}

# The Debian mirror apt is configured with here (deb822 .sources or one-line .list entries), so that
# debootstrap fetches from where this machine is allowed to.
apt_mirror() {
  python3 - "$@" <<'PY'
import glob, re, sys

def entries():
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        for block in re.split(r"\n\s*\n", open(path).read()):
            fields = dict(re.findall(r"^(\w[\w-]*):\s*(.*)$", block, re.M))
            if fields.get("Enabled", "yes") != "no":
                for uri in fields.get("URIs", "").split():
                    yield uri, fields.get("Suites", "").split()
    for path in ["/etc/apt/sources.list", *sorted(glob.glob("/etc/apt/sources.list.d/*.list"))]:
        try:
            lines = open(path).read().splitlines()
        except FileNotFoundError:
            continue
        for line in lines:
            words = re.sub(r"\[[^]]*\]", "", line.split("#")[0]).split()
            if len(words) >= 3 and words[0] == "deb":
                yield words[1], [words[2]]

for uri, suites in entries():
    if "bookworm" in suites:
        print(uri.rstrip("/"))
        sys.exit(0)
sys.exit("no apt source for Debian bookworm found in /etc/apt/sources.list*: set DEBIAN_MIRROR")
PY
}

make_standin() {
  if [ -z "${REBUILD_BASE:-}" ] && podman image exists "$STANDIN"; then
    log "stand-in base $STANDIN already built (REBUILD_BASE=1 to make it again)"
    return
  fi
  local mirror root
  mirror="${DEBIAN_MIRROR:-$(apt_mirror)}"
  root=$(mktemp -d /var/tmp/listmonk-base.XXXXXX)
  STANDIN_ROOT=$root
  log "debootstrap bookworm from $mirror"
  debootstrap --variant=minbase --include=python3,python3-venv bookworm "$root" "$mirror" >/dev/null
  # Debian's python3 refuses pip outside a virtual environment (PEP 668): a venv first on PATH takes its place,
  # as /usr/local does in the python images Airbyte's base is made from.
  chroot "$root" python3 -m venv /opt/python
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  log "importing $STANDIN"
  tar -C "$root" -c . | podman import \
    --change 'ENV PATH=/opt/python/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --quiet - "$STANDIN" >/dev/null
  rm -rf "$root"
}

build() {
  local target=$1 base=$2 name=airbyte/$1-listmonk
  log "building $name:dev and $name:$VERSION FROM $base"
  podman build --quiet --network host \
    --volume "$CA_BUNDLE:$CA_BUNDLE:ro" --build-arg "PIP_CERT=$CA_BUNDLE" \
    --build-arg "BASE_IMAGE=$base" --target "$target" \
    --tag "$name:dev" --tag "$name:$VERSION" . >/dev/null
}

STANDIN_ROOT=
trap 'rm -rf "$STANDIN_ROOT"' EXIT
install_tools
if [ -n "${BASE_IMAGE:-}" ]; then
  base=$BASE_IMAGE
else
  make_standin
  base=$STANDIN
fi
start=$SECONDS
build destination "$base"
build source "$base"
log "built in $((SECONDS - start)) s"
podman images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E "^(localhost/)?airbyte/(destination|source)-listmonk:dev|listmonk-connector-base" >&2
