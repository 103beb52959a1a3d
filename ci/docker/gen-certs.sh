#!/bin/sh
# One-shot certificate generator for docker-compose.yml (also runs on any host with openssl 3):
# a CA, a server certificate for the broker and a client certificate for the module, valid
# from now for BX_HIL_CERT_DAYS days (clock-relative, so nothing checked in ever expires).
#
# Usage: gen-certs.sh [out-dir]        (default /certs)
# Environment:
#   BX_HIL_CERT_NAMES   server DNS names, comma-separated (default: localhost,mosquitto)
#   BX_HIL_CERT_IPS     server IP addresses, comma-separated (default: 127.0.0.1); add the test
#                       host's LAN address as the module sees it, or the module refuses the name (S5/S7)
#   BX_HIL_CERT_DAYS    validity in days (default 30)
#   BX_HIL_CERT_OWNER   owner:group of the server key when run as root (default 1883:1883, the
#                       mosquitto user of the eclipse-mosquitto image; mosquitto drops root
#                       before it reads the key: docs/reference/dependencies.md P11)
#
# Writes: ca.crt ca.key server.crt server.key client.crt client.key (PKCS#8)
#         client.pkcs1.key (PKCS#1, "BEGIN RSA PRIVATE KEY", for firmware that wants it)
set -eu

out="${1:-/certs}"
names="${BX_HIL_CERT_NAMES:-localhost,mosquitto}"
ips="${BX_HIL_CERT_IPS:-127.0.0.1}"
days="${BX_HIL_CERT_DAYS:-30}"
owner="${BX_HIL_CERT_OWNER:-1883:1883}"

if ! command -v openssl >/dev/null 2>&1; then
  if command -v apk >/dev/null 2>&1; then apk add --no-cache openssl >/dev/null; else echo "gen-certs: openssl is required" >&2; exit 2; fi
fi

mkdir -p "$out"
cd "$out"
umask 077

san=""
old_ifs="$IFS"; IFS=','
for n in $names; do [ -n "$n" ] && san="${san:+$san,}DNS:$n"; done
for i in $ips; do [ -n "$i" ] && san="${san:+$san,}IP:$i"; done
IFS="$old_ifs"
first_name="${names%%,*}"

# CA: EC P-256, what the BX firmware and AWS IoT both accept [BX-T], [docs/reference/aws-iot-and-mosquitto.md].
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 -days "$((days + 1))" \
  -keyout ca.key -out ca.crt -subj '/CN=bx-hil docker CA/O=bx-hil' \
  -addext 'basicConstraints=critical,CA:TRUE' -addext 'keyUsage=critical,keyCertSign,cRLSign' 2>/dev/null

# Broker: RSA-2048 (S1, the scenario every firmware must pass), names from the environment.
openssl req -x509 -CA ca.crt -CAkey ca.key -newkey rsa:2048 -nodes -sha256 -days "$days" \
  -keyout server.key -out server.crt -subj "/CN=$first_name" \
  -addext "subjectAltName=$san" -addext 'extendedKeyUsage=serverAuth' -addext 'basicConstraints=CA:FALSE' 2>/dev/null

# Module: RSA-2048 client certificate; the key in both encodings the KPRIVKSTORE slot takes.
openssl req -x509 -CA ca.crt -CAkey ca.key -newkey rsa:2048 -nodes -sha256 -days "$days" \
  -keyout client.key -out client.crt -subj '/CN=bx-hil-device' \
  -addext 'extendedKeyUsage=clientAuth' -addext 'basicConstraints=CA:FALSE' 2>/dev/null
openssl pkey -in client.key -traditional -out client.pkcs1.key

chmod 644 ca.crt server.crt client.crt
chmod 640 server.key
if [ "$(id -u)" = "0" ]; then chown "$owner" server.key; fi

openssl verify -CAfile ca.crt server.crt client.crt
echo "gen-certs: wrote $out (server names: $san; valid $days days)"
