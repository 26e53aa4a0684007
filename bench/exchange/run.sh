#!/usr/bin/env bash
# Exchange throughput: lienthong (consumer node → provider node over mutual TLS, signatures
# and message log on → REST backend) against an nginx two-hop chain (hop 1 → hop 2 over
# mutual TLS, keep-alive upstreams → the same backend). wrk -t2 -c64 on loopback, A B A B.
#
#   bash bench/exchange/run.sh [PAIRS] [DURATION]      (defaults: 3 pairs, 15s)
#
# ABLATION=1 adds, in the same run and under the same load, the cost of each layer
# (`lienthong bench hop`: plain hyper hops, + HTTP/2, + mutual TLS, + signatures, + message
# log; then the node itself) with req/s, p99 and CPU per request. PROFILE=1 adds a perf
# profile of both nodes under load (perf-report.txt).
#
# BIN=/path/to/lienthong measures that build instead of this tree's.
#
# Installs nginx and wrk from Debian packages when missing (as root). Everything runs on
# 127.0.0.1 ports 18080-18196 and stops when the script ends.
set -euo pipefail
cd "$(dirname "$0")/../.."
PAIRS="${1:-3}"
DURATION="${2:-15s}"
WORK="$(pwd)/bench-out/exchange"
rm -rf "$WORK" && mkdir -p "$WORK"

if ! command -v nginx >/dev/null || ! command -v wrk >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx wrk >/dev/null
fi
# BIN=path measures another build (a before/after check); default: this tree's release build.
if [ -z "${BIN:-}" ]; then cargo build --release -q -p lienthong; fi
L="${BIN:-$(pwd)/target/release/lienthong}"

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  nginx -s stop -c "$WORK/nginx.conf" -p "$WORK" 2>/dev/null || true
}
trap cleanup EXIT

# Keys: one CA for both chains; nginx uses the node certificates too.
cd "$WORK"
"$L" keys ca --name BENCH --out ca >/dev/null
"$L" keys member --out registry >/dev/null; REGKEY=$(cat registry/public.key)
"$L" keys member --out provider >/dev/null; PKEY=$(cat provider/public.key)
"$L" keys member --out consumer >/dev/null; CKEY=$(cat consumer/public.key)
PFP=$("$L" keys node --ca-dir ca --member VN/GOV/BCA/DANCU --host 127.0.0.1 --host localhost --out provider | cut -d'"' -f2)
CFP=$("$L" keys node --ca-dir ca --member VN/GOV/BHXH/SI --host 127.0.0.1 --host localhost --out consumer | cut -d'"' -f2)
# A second pair, the same but witnessed: log keys on both nodes, checkpoints sent and proved
# on every message, the provider's node the witness cosigning the consumer's log.
"$L" keys member --out wprovider >/dev/null; WPKEY=$(cat wprovider/public.key)
"$L" keys member --out wconsumer >/dev/null; WCKEY=$(cat wconsumer/public.key)
WPFP=$("$L" keys node --ca-dir ca --member VN/GOV/BCA/WDANCU --host 127.0.0.1 --host localhost --out wprovider | cut -d'"' -f2)
WCFP=$("$L" keys node --ca-dir ca --member VN/GOV/BHXH/WSI --host 127.0.0.1 --host localhost --out wconsumer | cut -d'"' -f2)
WPLOG=$("$L" keys log --member VN/GOV/BCA/WDANCU --out wprovider | tail -1 | cut -d'"' -f2)
WCLOG=$("$L" keys log --member VN/GOV/BHXH/WSI --out wconsumer | tail -1 | cut -d'"' -f2)
WITNESS=$("$L" keys witness --member VN/GOV/BCA/WDANCU --out wprovider | tail -1 | cut -d'"' -f2)

# The backend: ~1 KB of JSON (a citizen record), served by nginx for both chains.
BODY=$(python3 -c 'import json; a="Số 12, Đường Lê Lợi, Phường Ba Đình, Thành phố Hà Nội; "*14; print(json.dumps({"personal_id":"001090123456","full_name":"Nguyễn Văn An","birth_date":"1990-03-25","sex":"1","province_code":"01","commune_code":"00004","address":a.strip(),"phone":"+84912345678"}, ensure_ascii=False))')
printf '%s' "$BODY" > backend.json
# X-Road's load mix: JSON arrays of citizen records of 2 kB, 10 kB, 100 kB, 2 MB and 10 MB.
mkdir -p mix
python3 - <<'PY'
import json
rec = json.load(open("backend.json"))
for name, size in (("2k", 2_000), ("10k", 10_000), ("100k", 100_000), ("2m", 2_000_000), ("10m", 10_000_000)):
    one = len(json.dumps(rec, ensure_ascii=False).encode()) + 1
    json.dump([rec] * max(1, size // one), open(f"mix/{name}", "w"), ensure_ascii=False)
PY
cat > mix.lua <<'LUA'
-- 30 % 2 kB, 60 % 10 kB, 9 % 100 kB, 0.9 % 2 MB, 0.1 % 10 MB (X-Road's load mix)
local prefix = os.getenv("MIX_PREFIX")
math.randomseed(7)
request = function()
  local r = math.random(1000)
  local size = r <= 300 and "2k" or r <= 900 and "10k" or r <= 990 and "100k" or r <= 999 and "2m" or "10m"
  return wrk.format(nil, prefix .. size)
end
LUA
cat > nginx.conf <<EOF
worker_processes 2;
error_log $WORK/nginx-error.log warn;
pid $WORK/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  default_type application/json;
  upstream backend { server 127.0.0.1:18080; keepalive 128; }
  upstream hop2 { server 127.0.0.1:18082; keepalive 128; }
  # The backend.
  server { listen 127.0.0.1:18080; root $WORK;
    location /people/mix/ { alias $WORK/mix/; }
    location / { try_files /backend.json =404; } }
  # Hop 1: plain HTTP in, mutual TLS out (like a consumer node).
  server {
    listen 127.0.0.1:18081;
    location / {
      proxy_pass https://hop2;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_ssl_certificate $WORK/consumer/node.crt;
      proxy_ssl_certificate_key $WORK/consumer/node.key;
      proxy_ssl_trusted_certificate $WORK/ca/ca.crt;
      proxy_ssl_verify on;
      proxy_ssl_name localhost;
      proxy_ssl_protocols TLSv1.3;
      proxy_ssl_session_reuse on;
    }
  }
  # Hop 2: mutual TLS in, the backend out (like a provider node).
  server {
    listen 127.0.0.1:18082 ssl;
    ssl_certificate $WORK/provider/node.crt;
    ssl_certificate_key $WORK/provider/node.key;
    ssl_client_certificate $WORK/ca/ca.crt;
    ssl_verify_client on;
    ssl_protocols TLSv1.3;
    keepalive_requests 100000;
    location / {
      proxy_pass http://backend/;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
EOF
nginx -c "$WORK/nginx.conf" -p "$WORK"

cat > registry.toml <<EOF
listen = "127.0.0.1:18090"
signing_key = "registry/signing.key"
[registry]
instance = "VN"
witness = { member = "VN/GOV/BCA/WDANCU", key = "$WITNESS" }
[[registry.members]]
id = "VN/GOV/BCA/WDANCU"
name = "witnessed provider"
signing_key = "$WPKEY"
address = "127.0.0.1:18192"
cert_fingerprint = "$WPFP"
log_key = "$WPLOG"
[[registry.members]]
id = "VN/GOV/BHXH/WSI"
name = "witnessed consumer"
signing_key = "$WCKEY"
cert_fingerprint = "$WCFP"
log_key = "$WCLOG"
[[registry.services]]
id = "VN/GOV/BCA/WDANCU/profile"
dataset = "citizen"
[[registry.agreements]]
consumer = "VN/GOV/BHXH/WSI"
service = "VN/GOV/BCA/WDANCU/profile"
fields = ["*"]
purposes = ["bench"]
legal_basis = "benchmark"
valid_from = "2025-01-01"
valid_to = "2099-12-31"
[[registry.members]]
id = "VN/GOV/BCA/DANCU"
name = "provider"
signing_key = "$PKEY"
address = "127.0.0.1:18092"
cert_fingerprint = "$PFP"
[[registry.members]]
id = "VN/GOV/BHXH/SI"
name = "consumer"
signing_key = "$CKEY"
cert_fingerprint = "$CFP"
[[registry.services]]
id = "VN/GOV/BCA/DANCU/profile"
dataset = "citizen"
[[registry.agreements]]
consumer = "VN/GOV/BHXH/SI"
service = "VN/GOV/BCA/DANCU/profile"
fields = ["*"]
purposes = ["bench"]
legal_basis = "benchmark"
valid_from = "2025-01-01"
valid_to = "2099-12-31"
EOF
for side in provider consumer wprovider wconsumer; do
  case $side in
    provider) member=VN/GOV/BCA/DANCU; client=18091; peer=18092; admin=18093 ;;
    consumer) member=VN/GOV/BHXH/SI; client=18094; peer=18095; admin=18096 ;;
    wprovider) member=VN/GOV/BCA/WDANCU; client=18191; peer=18192; admin=18193 ;;
    wconsumer) member=VN/GOV/BHXH/WSI; client=18194; peer=18195; admin=18196 ;;
  esac
  cat > $side.toml <<EOF
member = "$member"
client_listen = "127.0.0.1:$client"
peer_listen = "127.0.0.1:$peer"
admin_listen = "127.0.0.1:$admin"
signing_key = "$side/signing.key"
ca_cert = "ca/ca.crt"
tls_cert = "$side/node.crt"
tls_key = "$side/node.key"
registry_url = "http://127.0.0.1:18090"
registry_key = "$REGKEY"
log_path = "$side.messages.db"
EOF
done
echo 'log_key = "wprovider/log.key"
witness_key = "wprovider/witness.key"' >> wprovider.toml
echo 'log_key = "wconsumer/log.key"' >> wconsumer.toml
for side in provider wprovider; do cat >> $side.toml <<EOF
[[rest]]
service = "profile"
base_url = "http://127.0.0.1:18080/people"
EOF
done
# REGISTRY_FILLER=N: N more members, each with a service and an agreement, listed before the
# bench's own (a national registry's size: the nodes look members, services and agreements
# up on every exchange).
case "${REGISTRY_FILLER:-0}" in
  '' | *[!0-9]*) echo "REGISTRY_FILLER must be a whole number, not '$REGISTRY_FILLER'" >&2; exit 2 ;;
esac
if [ "${REGISTRY_FILLER:-0}" -gt 0 ]; then
  python3 - "$REGISTRY_FILLER" "$CKEY" <<'PY'
import sys
n, key = int(sys.argv[1]), sys.argv[2]
filler = []
for i in range(n):
    m = f"VN/GOV/F{i:05d}/S"
    filler.append(f'[[registry.members]]\nid = "{m}"\nname = "filler {i}"\nsigning_key = "{key}"\n'
                  f'address = "127.0.0.1:9"\ncert_fingerprint = "{i:064x}"\n'
                  f'[[registry.services]]\nid = "{m}/profile"\ndataset = "citizen"\n'
                  f'[[registry.agreements]]\nconsumer = "{m}"\nservice = "VN/GOV/F{(i + 1) % n:05d}/S/profile"\n'
                  f'fields = ["*"]\npurposes = ["bench"]\nlegal_basis = "benchmark"\n'
                  f'valid_from = "2025-01-01"\nvalid_to = "2099-12-31"\n')
text = open("registry.toml").read()
head, sep, rest = text.partition("[[registry.members]]")
open("registry.toml", "w").write(head + "".join(filler) + sep + rest)
PY
fi
"$L" registry run --config registry.toml 2>registry.log & pids+=($!)
# The registry signs its snapshot before it listens (seconds for a large one).
for _ in $(seq 1 600); do (exec 3<>/dev/tcp/127.0.0.1/18090) 2>/dev/null && break; sleep 0.1; done
"$L" node run --config provider.toml 2>provider.log & pids+=($!)
"$L" node run --config consumer.toml 2>consumer.log & pids+=($!)
"$L" node run --config wprovider.toml 2>wprovider.log & pids+=($!)
"$L" node run --config wconsumer.toml 2>wconsumer.log & pids+=($!)
for port in 18081 18091 18094 18191 18194; do
  for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
done

LT_URL="http://127.0.0.1:18094/r1/VN/GOV/BCA/DANCU/profile/001090123456"
NG_URL="http://127.0.0.1:18081/people/001090123456"
check() { curl -sf "$@" >/dev/null || { echo "check failed: $*" >&2; exit 1; }; }
check -H 'X-Road-Client: VN/GOV/BHXH/SI' -H 'X-Lienthong-Purpose: bench' "$LT_URL"
check "$NG_URL"
WT_URL="http://127.0.0.1:18194/r1/VN/GOV/BCA/WDANCU/profile/001090123456"
check -H 'X-Road-Client: VN/GOV/BHXH/WSI' -H 'X-Lienthong-Purpose: bench' "$WT_URL"

run_wrk() { # name url [headers…] → "req_per_s p50_ms p99_ms"
  local name=$1 url=$2; shift 2
  wrk -t2 -c64 -d"$DURATION" --latency "$@" "$url" > "wrk-$name.txt"
  python3 - "wrk-$name.txt" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
def ms(v):
    n, u = float(re.match(r"[\d.]+", v).group()), re.sub(r"[\d.]", "", v)
    return n * {"us": 0.001, "ms": 1, "s": 1000}[u]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
# Latency-distribution lines only ("     50%    2.12ms"), not the stdev column's "79.50%".
p50 = ms(re.search(r"^\s+50%\s+(\S+)", t, re.M).group(1)); p99 = ms(re.search(r"^\s+99%\s+(\S+)", t, re.M).group(1))
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
print(f"{rps:.0f} {p50:.2f} {p99:.2f} {errors.group(1) if errors else 0}")
PY
}

echo "round nginx_rps nginx_p50 nginx_p99 lienthong_rps lienthong_p50 lienthong_p99 lienthong_non2xx witnessed_rps witnessed_p50 witnessed_p99 witnessed_non2xx"
for i in $(seq 1 "$PAIRS"); do
  n=$(run_wrk nginx-$i "$NG_URL")
  l=$(run_wrk lienthong-$i "$LT_URL" -H 'X-Road-Client: VN/GOV/BHXH/SI' -H 'X-Lienthong-Purpose: bench')
  w=$(run_wrk witnessed-$i "$WT_URL" -H 'X-Road-Client: VN/GOV/BHXH/WSI' -H 'X-Lienthong-Purpose: bench')
  echo "$i $(echo $n | cut -d' ' -f1-3) $l $w"
done | tee results.txt
python3 - <<'PY'
import statistics as st
rows = [l.split() for l in open("results.txt") if l[0].isdigit()]
med = lambda i: st.median(float(r[i]) for r in rows)
print(f"median nginx: {med(1):.0f} req/s, p50 {med(2):.2f} ms, p99 {med(3):.2f} ms")
print(f"median lienthong: {med(4):.0f} req/s, p50 {med(5):.2f} ms, p99 {med(6):.2f} ms")
print(f"throughput ratio lienthong/nginx: {med(4)/med(1):.2f}x; p99 ratio: {med(6)/med(3):.2f}x")
print(f"median witnessed lienthong: {med(8):.0f} req/s, p50 {med(9):.2f} ms, p99 {med(10):.2f} ms")
print(f"witnessing cost: {100 * (1 - med(8) / med(4)):.1f} % of throughput")
PY
# The ablation: each layer's cost, same load. CPU per request is the machine's (wrk, the
# backend and both hops together, from /proc/stat) and the hops' own processes'.
CLK_TCK=$(getconf CLK_TCK)
cpu_busy() { awk '/^cpu / {print $2+$3+$4+$7+$8+$9}' /proc/stat; }
proc_cpu() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14+$15}' "/proc/$p/stat"))); done; echo "$t"; }
ablate() { # name "pids" url [wrk args…] → "req/s p99_ms machine_us_per_req hops_us_per_req non2xx"
  local name=$1 watched=$2 url=$3; shift 3
  local b0 p0 r b1 p1 n
  b0=$(cpu_busy); p0=$(proc_cpu $watched)
  r=$(run_wrk "$name" "$url" "$@")
  b1=$(cpu_busy); p1=$(proc_cpu $watched)
  n=$(grep -oE '[0-9]+ requests in' "wrk-$name.txt" | cut -d' ' -f1)
  python3 -c "import sys; r=sys.argv[1].split(); n=int(sys.argv[2]); k=1e6/int(sys.argv[5])/n
print(r[0], r[2], f'{(int(sys.argv[3]))*k:.0f}', f'{int(sys.argv[4])*k:.0f}', r[3])" "$r" "$n" "$((b1 - b0))" "$((p1 - p0))" "$CLK_TCK"
}
if [ "${ABLATION:-0}" = 1 ]; then
  "$L" bench hop --role provider --keys provider --ca ca/ca.crt --peer-key "$CKEY" --port 18110 \
    --upstream http://127.0.0.1:18080/people --log hop-provider.db 2>hop-provider.log & hop_p=$!; pids+=($hop_p)
  "$L" bench hop --role consumer --keys consumer --ca ca/ca.crt --peer-key "$PKEY" --peer-fingerprint "$PFP" \
    --port 18100 --upstream 18110 --log hop-consumer.db 2>hop-consumer.log & hop_c=$!; pids+=($hop_c)
  for port in 18100 18104 18110 18114; do
    for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
  done
  for stage in 0 1 2 3 4; do check "http://127.0.0.1:$((18100 + stage))/001090123456"; done
  NGINX_PIDS="$(pgrep -P "$(cat nginx.pid)" | tr '\n' ' ')"
  stages=(plain h2 tls sign log)
  echo "ablation round: stage req/s p99_ms machine_us/req hops_us/req non2xx"
  for i in $(seq 1 "$PAIRS"); do
    echo "$i nginx $(ablate abl-nginx-$i "$NGINX_PIDS" "$NG_URL")"
    for stage in 0 1 2 3 4; do
      echo "$i ${stages[$stage]} $(ablate abl-${stages[$stage]}-$i "$hop_c $hop_p" "http://127.0.0.1:$((18100 + stage))/001090123456")"
    done
    echo "$i lienthong $(ablate abl-lienthong-$i "${pids[2]} ${pids[1]}" "$LT_URL" -H 'X-Road-Client: VN/GOV/BHXH/SI' -H 'X-Lienthong-Purpose: bench')"
  done | tee ablation.txt
  python3 - <<'PY'
import statistics as st
rows = [l.split() for l in open("ablation.txt") if l[0].isdigit()]
order = []
for r in rows:
    if r[1] not in order:
        order.append(r[1])
nginx = st.median(float(r[2]) for r in rows if r[1] == "nginx")
print("median | stage | req/s | × nginx | p99 ms | machine µs/req | hops µs/req")
for s in order:
    m = lambda i: st.median(float(r[i]) for r in rows if r[1] == s)
    print(f"median | {s} | {m(2):.0f} | {m(2)/nginx:.2f} | {m(3):.2f} | {m(4):.0f} | {m(5):.0f}")
PY
  kill "$hop_c" "$hop_p" 2>/dev/null || true
fi
if [ "${PROFILE:-0}" = 1 ]; then
  # Both nodes under load, 99 Hz call graphs; the top of the flat profile goes in the report.
  perf record -F 99 -g -o perf.data -p "${pids[1]},${pids[2]}" -- sleep 10 2>perf-record.log &
  perf_pid=$!
  run_wrk profile "$LT_URL" -H 'X-Road-Client: VN/GOV/BHXH/SI' -H 'X-Lienthong-Purpose: bench' >/dev/null
  wait "$perf_pid" || true
  perf report -i perf.data --no-children -g none --sort dso,symbol --stdio 2>/dev/null | grep '%' > perf-flat.txt || true
  head -60 perf-flat.txt > perf-report.txt
  # The flat profile summed by what the code does (the ablation says which layer adds it).
  python3 - <<'PY' | tee perf-categories.txt
import re
rules = [("kernel: scheduler, futex, wake-ups", r"\[k\] (finish_task_switch|_raw_spin_unlock|try_to_wake|futex|schedule|irqentry|__schedule|dequeue|enqueue|update_)"),
         ("kernel: TCP/loopback, syscalls", r"\[k\] (tcp|ip_|__tcp|_copy|copy_|sock|skb|__skb|net_|__dev|loopback|do_syscall|entry_SYSCALL|__sys|sys_|ep_|__x64|syscall_exit|handle_softirqs|__local_bh|kmem|__kmalloc|kfree)"),
         ("kernel: files, fsync (message log)", r"\[k\] (ext4|iowrite|blk|bio|filemap|folio|mark_buffer|block_|jbd2|__filemap|generic_perform|pagecache|xas_)"),
         ("kernel: other", r"\[k\]"),
         ("SQLite (message log)", r"sqlite|sqlx|pager|wal[A-Z]|btree|Vdbe|vdbe"),
         ("Ed25519 (signatures)", r"curve25519|ed25519"),
         ("SHA-2 (hashes of bodies, canonical strings)", r"sha2::|sha256|sha512"),
         ("TLS record protection", r"aes_gcm|ring_core|chacha|rustls"),
         ("HTTP/2 and HTTP/1 (h2, hyper)", r"h2::|hyper|httparse|http::"),
         ("JSON (serde_json)", r"serde_json|serde_core|serde::"),
         ("allocator (mimalloc) and copies", r"mi_|_mi_|memmove|memcpy|memcmp|malloc|free|memset"),
         ("tokio runtime", r"tokio::"),
         ("lienthong's own code", r"lienthong_")]
totals = {}
for line in open("perf-flat.txt"):
    m = re.match(r"\s*([\d.]+)%\s+(.*)", line)
    if not m:
        continue
    pct, rest = float(m.group(1)), m.group(2)
    for name, pattern in rules:
        if re.search(pattern, rest):
            totals[name] = totals.get(name, 0) + pct
            break
    else:
        totals["other (std, utf-8, formatting…)"] = totals.get("other (std, utf-8, formatting…)", 0) + pct
for name, pct in sorted(totals.items(), key=lambda kv: -kv[1]):
    print(f"{pct:5.1f} %  {name}")
PY
  perf report -i perf.data --no-children -g none --sort comm,dso --stdio 2>/dev/null | grep '%' | head -20 > perf-dso.txt || true
  echo "perf profile of both nodes: $WORK/perf-report.txt, perf-categories.txt, perf-dso.txt"
fi
# The X-Road mix: throughput, p99 and the nodes' peak memory (VmHWM) — bounded by
# inflight_body_bytes_max (256 MiB by default) whatever the sizes.
peak_kib() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }
echo "mix nginx: $(MIX_PREFIX=/people/mix/ run_wrk mix-nginx "http://127.0.0.1:18081/" -s mix.lua)" | tee -a results.txt
echo "mix lienthong: $(MIX_PREFIX=/r1/VN/GOV/BCA/DANCU/profile/mix/ run_wrk mix-lienthong "http://127.0.0.1:18094/" -s mix.lua -H 'X-Road-Client: VN/GOV/BHXH/SI' -H 'X-Lienthong-Purpose: bench')" | tee -a results.txt
echo "mix peak RSS KiB: provider node $(peak_kib "${pids[1]}"), consumer node $(peak_kib "${pids[2]}")" | tee -a results.txt
echo "witnessed consumer's log, cosigned by the witness: $(sqlite3 wconsumer.messages.db 'SELECT MAX(size) FROM log_cosigned' 2>/dev/null || echo '?') entries"
echo "witness alarms: $(sqlite3 wprovider.messages.db 'SELECT COUNT(*) FROM witness_alarms' 2>/dev/null || echo '?')"
echo "message log entries (consumer, provider):"
"$L" log verify --db consumer.messages.db --key "$CKEY"
"$L" log verify --db provider.messages.db --key "$PKEY"
