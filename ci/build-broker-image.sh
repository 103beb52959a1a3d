#!/usr/bin/env bash
# Build the broker image offline, for machines that reach a Debian mirror but no container
# registry (CI here): a Debian root with Mosquitto made by debootstrap, turned into an image by
# `docker import`, under the tag docker-compose.yml and startContainerRig() use. A user with
# registry access does not need this: `docker pull eclipse-mosquitto:2` gives the real image.
#
# Usage: ci/build-broker-image.sh [tag]          (default eclipse-mosquitto:2; run as root)
# Environment:
#   BX_HIL_DEBIAN_MIRROR  the mirror to bootstrap from (default: read from apt's own sources
#                         on this machine, so no host name is written into the repository)
#   BX_HIL_DEBIAN_SUITE   the Debian release (default: this machine's, else bookworm)
#
# Cached: does nothing when the tag already exists (`docker image rm <tag>` to rebuild).
# What the image carries, and why (it stands in for eclipse-mosquitto:2):
#   - mosquitto + mosquitto-clients (the compose healthcheck runs mosquitto_sub);
#   - openssl, so the same image can run the one-shot certificate job of docker-compose.yml
#     (docker-compose.ci.yml points that job here: no alpine image can be pulled either);
#   - user/group mosquitto as 1883:1883, as in the eclipse-mosquitto image (gen-certs.sh gives
#     the server key to 1883:1883 and Mosquitto drops root before it reads it: P11);
#   - /mosquitto/{config,data,log} and CMD mosquitto -c /mosquitto/config/mosquitto.conf.
# Exit codes: 0 built or cached, 1 the build failed, 2 a missing tool or no mirror found.
set -euo pipefail

tag="${1:-eclipse-mosquitto:2}"

for tool in docker debootstrap tar; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "build-broker-image: $tool is required (apt-get install docker.io debootstrap)" >&2
    exit 2
  fi
done
if ! docker info >/dev/null 2>&1; then
  echo "build-broker-image: no Docker engine answers (start dockerd, or set DOCKER_HOST)" >&2
  exit 2
fi

if docker image inspect "$tag" >/dev/null 2>&1; then
  echo "build-broker-image: $tag exists, nothing to do (docker image rm $tag to rebuild)"
  exit 0
fi
if [ "$(id -u)" != "0" ]; then
  echo "build-broker-image: debootstrap needs root (run with sudo)" >&2
  exit 2
fi

# The first plain Debian archive URI in apt's sources (deb822 *.sources or one-line
# sources.list), skipping the security archive, which has no full release.
apt_mirror() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] || continue
    awk 'tolower($1) == "uris:" { for (i = 2; i <= NF; i++) print $i }' "$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -r "$f" ] || continue
    awk '$1 == "deb" { u = ($2 ~ /^\[/) ? $3 : $2; print u }' "$f"
  done
}
mirror="${BX_HIL_DEBIAN_MIRROR:-$(apt_mirror | grep -v -m1 security || true)}"
if [ -z "$mirror" ]; then
  echo "build-broker-image: no Debian mirror in /etc/apt/sources.list{,.d}; set BX_HIL_DEBIAN_MIRROR" >&2
  exit 2
fi
suite="${BX_HIL_DEBIAN_SUITE:-$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")}"
suite="${suite:-bookworm}"

root="$(mktemp -d "${TMPDIR:-/tmp}/bx-hil-broker-root.XXXXXX")"
trap 'rm -rf "$root"' EXIT

start=$(date +%s)
echo "build-broker-image: debootstrap $suite from $mirror (apt's sources) into $root"
if ! debootstrap --variant=minbase --include=mosquitto,mosquitto-clients,openssl "$suite" "$root" "$mirror" \
  >"$root.log" 2>&1; then
  tail -20 "$root.log" >&2
  rm -f "$root.log"
  echo "build-broker-image: debootstrap failed" >&2
  exit 1
fi
rm -f "$root.log"

# mosquitto as 1883:1883, with what the package created re-owned.
old_uid="$(awk -F: '$1 == "mosquitto" { print $3 }' "$root/etc/passwd")"
old_gid="$(awk -F: '$1 == "mosquitto" { print $3 }' "$root/etc/group")"
if [ -n "$old_uid" ] && [ -n "$old_gid" ]; then
  sed -i "s/^mosquitto:x:$old_uid:[0-9]*:/mosquitto:x:1883:1883:/" "$root/etc/passwd"
  sed -i "s/^mosquitto:x:$old_gid:/mosquitto:x:1883:/" "$root/etc/group"
  find "$root" -xdev -uid "$old_uid" -exec chown -h 1883 {} +
  find "$root" -xdev -gid "$old_gid" -exec chgrp -h 1883 {} +
fi
mkdir -p "$root/mosquitto/config" "$root/mosquitto/data" "$root/mosquitto/log"
printf 'listener 1883\nallow_anonymous true\n' >"$root/mosquitto/config/mosquitto.conf"
chown -R 1883:1883 "$root/mosquitto"
# What a broker does not need (the engine copies the whole image for every container with the
# vfs storage driver, so size is start-up time): package caches and lists, manuals, translations,
# glibc's iconv modules; of the documentation only the copyright files stay.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/man/* \
  "$root"/usr/share/info/* "$root"/usr/share/locale/* "$root"/usr/lib/*-linux-gnu/gconv
find "$root/usr/share/doc" -type f ! -name copyright -delete
# mktemp made the root 0700: the image's / must be 0755, or nobody but root can reach any file.
chmod 755 "$root"

tar --numeric-owner -C "$root" -c . | docker import \
  --change 'CMD ["/usr/sbin/mosquitto", "-c", "/mosquitto/config/mosquitto.conf"]' \
  --change 'EXPOSE 1883' \
  --change 'LABEL org.bx-hil.built-by=ci/build-broker-image.sh' \
  - "$tag" >/dev/null
end=$(date +%s)
echo "build-broker-image: built $tag in $((end - start)) s ($(docker image inspect -f '{{.Size}}' "$tag" | awk '{ printf "%.0f MB", $1 / 1e6 }'))"
