#!/usr/bin/env bash
# CPU per exchange of one build, for before/after comparisons finer than run.sh's req/s:
# starts the registry and the two nodes (or the two `bench hop` processes serving one
# ablation stage) from the keys and configurations run.sh left in bench-out/exchange, warms
# them for 3 s, then loads them for DURATION with wrk -t2 -c64 and prints req/s, p99 and
# the two processes' CPU (user + system, /proc/<pid>/stat) per request.
#
#   bash bench/exchange/cpu.sh BIN [node|plain|h2|tls|sign|log] [DURATION]
#
# Run bench/exchange/run.sh once first. Alternate builds (A B A B): this machine's speed
# drifts between minutes.
set -euo pipefail
BIN="$(realpath "${1:?usage: cpu.sh BIN [node|plain|h2|tls|sign|log] [DURATION]}")"
WHAT="${2:-node}"
DURATION="${3:-10s}"
cd "$(dirname "$0")/../../bench-out/exchange" 2>/dev/null || {
  echo "bench-out/exchange is missing: run bench/exchange/run.sh first" >&2
  exit 2
}
[ -f registry.toml ] || { echo "no registry.toml: run bench/exchange/run.sh first" >&2; exit 2; }

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  nginx -s stop -c "$PWD/nginx.conf" -p "$PWD" 2>/dev/null || true
}
trap cleanup EXIT
wait_port() {
  for _ in $(seq 1 600); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return; sleep 0.1; done
  echo "nothing listens on $1" >&2
  exit 1
}
headers=()
case "$WHAT" in
  node)
    rm -f cpu-provider.db* cpu-consumer.db*
    sed 's/^log_path = .*/log_path = "cpu-provider.db"/' provider.toml > cpu-provider.toml
    sed 's/^log_path = .*/log_path = "cpu-consumer.db"/' consumer.toml > cpu-consumer.toml
    "$BIN" registry run --config registry.toml 2>cpu-registry.log & pids+=($!)
    wait_port 18090
    "$BIN" node run --config cpu-provider.toml 2>cpu-provider.log & a=$!; pids+=($a)
    "$BIN" node run --config cpu-consumer.toml 2>cpu-consumer.log & b=$!; pids+=($b)
    wait_port 18094
    url="http://127.0.0.1:18094/r1/VN/GOV/BCA/DANCU/profile/001090123456"
    headers=(-H 'X-Road-Client: VN/GOV/BHXH/SI' -H 'X-Lienthong-Purpose: bench')
    ;;
  plain|h2|tls|sign|log)
    stages=(plain h2 tls sign log)
    for i in "${!stages[@]}"; do [ "${stages[$i]}" = "$WHAT" ] && stage=$i; done
    rm -f cpu-hop-provider.db* cpu-hop-consumer.db*
    pfp=$(python3 -c "import hashlib,ssl; print(hashlib.sha256(ssl.PEM_cert_to_DER_cert(open('provider/node.crt').read())).hexdigest())")
    "$BIN" bench hop --role provider --keys provider --ca ca/ca.crt --peer-key "$(cat consumer/public.key)" \
      --port 18110 --upstream http://127.0.0.1:18080/people --log cpu-hop-provider.db 2>cpu-hop-provider.log & a=$!; pids+=($a)
    "$BIN" bench hop --role consumer --keys consumer --ca ca/ca.crt --peer-key "$(cat provider/public.key)" \
      --peer-fingerprint "$pfp" --port 18100 --upstream 18110 --log cpu-hop-consumer.db 2>cpu-hop-consumer.log & b=$!; pids+=($b)
    wait_port 18100; wait_port 18110
    url="http://127.0.0.1:$((18100 + stage))/001090123456"
    ;;
  *) echo "unknown: $WHAT (node, plain, h2, tls, sign or log)" >&2; exit 2 ;;
esac
nginx -c "$PWD/nginx.conf" -p "$PWD"
curl -sf "${headers[@]}" "$url" >/dev/null || { echo "the first request failed: $url" >&2; exit 1; }
wrk -t2 -c64 -d3s "${headers[@]}" "$url" >/dev/null
ticks() { awk '{s += $14 + $15} END {print s}' "/proc/$a/stat" "/proc/$b/stat"; }
t0=$(ticks)
wrk -t2 -c64 -d"$DURATION" --latency "${headers[@]}" "$url" > cpu-wrk.txt
t1=$(ticks)
n=$(grep -oE '[0-9]+ requests in' cpu-wrk.txt | cut -d' ' -f1)
python3 -c "import sys; t, n, hz = map(int, sys.argv[1:4]); print(f'req/s {sys.argv[4]} p99 {sys.argv[5]} cpu_us_per_req {t / hz / n * 1e6:.0f}')" \
  "$((t1 - t0))" "$n" "$(getconf CLK_TCK)" \
  "$(awk '/Requests\/sec/ {print $2}' cpu-wrk.txt)" "$(awk '$1 == "99%" {print $2}' cpu-wrk.txt)"
