#!/usr/bin/env bash
# reset mode: after expiry the push is lost and the client's next packet is
# answered by the NAT with a RST.  The RST comes from the NAT, one hop
# closer than the server, so it arrives with a different IP TTL than the
# server's own packets: the evidence natidle's capture relies on.
# shellcheck source=tests/lab/lib.sh
. "$(dirname "$0")/lib.sh"
lab_test_init lab-reset

T=4
lab_up "t-reset-$$" --timeout "$T" --mode reset

# Capture in the client namespace what the client sees from the server.
pcap=$T_TMP/client.pcap
timeout 60 ip netns exec "${E[NS_CLIENT]}" tcpdump -i "${E[CLIENT_IFACE]}" -n -U --immediate-mode -Z root \
  -w "$pcap" "tcp port ${E[PORT_IMAPS]}" 2>"$T_TMP/tcpdump.err" & cap=$!
for _ in $(seq 50); do
  grep -q 'listening on' "$T_TMP/tcpdump.err" 2>/dev/null && break
  sleep 0.1
done

alive_and_dead "$T" --wait-done 3
sleep 0.5
kill -INT "$cap" 2>/dev/null || true
wait "$cap" 2>/dev/null || true

expect "$T_TMP/dead" DONE_RESULT reset "silent T + 2 s: DONE is answered by a RST"

# TTLs of the packets that came from the server's address: "R" for RSTs,
# "D" for everything else.
port=$(result "$T_TMP/dead" LOCAL_PORT)
tcpdump -r "$pcap" -n -v "src host ${E[SERVER_ADDR]}" 2>/dev/null | awk '
  /^[0-9]/ { match($0, /ttl [0-9]+/); ttl = substr($0, RSTART + 4, RLENGTH - 4); next }
  /Flags \[/ { kind = ($0 ~ /Flags \[R/) ? "R" : "D"; print kind, ttl, $0 }' >"$T_TMP/ttl"
rst_ttl=$(awk -v p="$port" '$1 == "R" && $0 ~ ("> [0-9.]+\\." p ":") { print $2 }' "$T_TMP/ttl" | sort -u)
data_ttl=$(awk '$1 == "D" { print $2 }' "$T_TMP/ttl" | sort -u)
say "TTL seen by the client: RST from the NAT ${rst_ttl:-none}, server packets ${data_ttl:-none}"
if [ -z "$rst_ttl" ]; then
  fail "no RST to the dead session's port $port in the capture"
elif [ -z "$data_ttl" ]; then
  fail "no server packets in the capture"
elif grep -qx -F -f <(printf "%s\n" "$data_ttl") <(printf "%s\n" "$rst_ttl"); then
  fail "the NAT's RST has the same TTL as the server's packets ($rst_ttl)"
else
  ok "the NAT's RST (TTL $rst_ttl) differs from the server's packets (TTL $data_ttl)"
fi
finish
