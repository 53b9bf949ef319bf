#!/usr/bin/env bash
# ecuup against ecuup-server over HTTPS with a test CA made here: ca_file = that CA works (report +
# fetch); another CA -> exit 3 with a message about certificate verification.
source "$ECUUP_SRC/test/support/testlib.sh"
source "$ECUUP_SRC/test/support/ddi_server.sh"
command -v openssl >/dev/null || { echo "skip: no openssl"; exit 125; }
mkca() {
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=$1" -keyout "$T/$1.key" -out "$T/$1.pem" 2>/dev/null
}
mkca test-ca && mkca other-ca || exit 1
openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout "$T/server.key" -out "$T/server.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' >"$T/ext.cnf"
openssl x509 -req -in "$T/server.csr" -CA "$T/test-ca.pem" -CAkey "$T/test-ca.key" -CAcreateserial -days 2 \
  -extfile "$T/ext.cnf" -out "$T/server.pem" 2>/dev/null || exit 1
srv_start --tls-cert "$T/server.pem" --tls-key "$T/server.key" || exit 1
check "the server speaks https" test "${SRV_URL%%:*}" = https
srv_upload_bench
ddi_bench
srv_admin assign --part bms --version 1.1.0 --all >/dev/null
sed -i "s|^  # ca_file: .*|  ca_file: $T/test-ca.pem|" "$B/ecuup.yaml"
check "the config names the CA" grep -q "^  ca_file: $T/test-ca.pem" "$B/ecuup.yaml"
expect 0 inventory "$ecuup" inventory --progress=none
expect 0 "report over https, verified by the test CA" "$ecuup" report --progress=none
check "bms has a task" out_has "bms .*task"
expect 0 "fetch over https" "$ecuup" fetch --progress=none
check "verified" out_has "bms .*downloaded"

sed -i "s|^  ca_file: .*|  ca_file: $T/other-ca.pem|" "$B/ecuup.yaml"
expect 8 "report with the wrong CA (refused: TLS trust, not retry later)" "$ecuup" report --progress=none
check "the message is about certificate verification" grep -Eqi "certificate|SSL|verif" "$T/err"
sed -i "s|^  ca_file: .*|  ca_file: $T/test-ca.pem|" "$B/ecuup.yaml"
expect 0 "the right CA again" "$ecuup" report --progress=none
finish
