#!/usr/bin/env bash
# bench/cache.sh: what the prompt cache does to throughput over h1 loopback. Against a
# zero-delay fake upstream answering ~2 KB, the same deterministic request is sent by a
# closed loop of -c workers to: the floor (a bare ReverseProxy), crossroads forced to miss
# (Cache-Control: no-cache: key, coalescing, upstream call and store, every time),
# crossroads answering from the cache, and crossroads with a sampled request the cache
# does not touch. Rounds are interleaved; the report goes to
# bench/results/<UTC date>-cache-<commit>.md. Ports 9001, 9101 and 9180 must be free.
set -euo pipefail

ROUNDS=3 D=5s C=32 WARMUP=1s SIZE=1700 KEEP=0 OUT=""
while [ $# -gt 0 ]; do
	case "$1" in
	-rounds) ROUNDS=$2; shift 2 ;;
	-d) D=$2; shift 2 ;;
	-c) C=$2; shift 2 ;;
	-size) SIZE=$2; shift 2 ;;
	-out) OUT=$2; shift 2 ;;
	-keep) KEEP=1; shift ;;
	*) echo "usage: bench/cache.sh [-rounds N] [-d DUR] [-c N] [-size BYTES] [-out DIR] [-keep]" >&2; exit 2 ;;
	esac
done

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
OUT=${OUT:-$ROOT/bench/results}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/crossroads-cache.XXXXXX")
NOTES=$TMP/notes.md
RESULTS=$TMP/results.jsonl
: >"$NOTES"
: >"$RESULTS"
. "$ROOT/bench/lib.sh"

FAKE_ADDR=127.0.0.1:9001 FLOOR_ADDR=127.0.0.1:9101 CR_PLAIN=127.0.0.1:9180
for a in $FAKE_ADDR $FLOOR_ADDR $CR_PLAIN; do
	if port_open "$a"; then echo "cache.sh: $a is in use" >&2; exit 1; fi
done

BIN=$TMP/bin
mkdir -p "$BIN"
log "building"
go build -o "$BIN/" ./bench/fakeupstream/cmd/fakeupstream ./bench/floor ./bench/loadgen ./edge/cmd/crossroads

start fakeupstream "$BIN/fakeupstream" -addr "$FAKE_ADDR" -size "$SIZE"
FAKE_PID=$LAST_PID
wait_port "$FAKE_ADDR" "$FAKE_PID" 10 || { cat "$TMP/fakeupstream.log" >&2; exit 1; }
start floor "$BIN/floor" -addr "$FLOOR_ADDR" -upstream "http://$FAKE_ADDR"
FLOOR_PID=$LAST_PID
wait_port "$FLOOR_ADDR" "$FLOOR_PID" 10 || { cat "$TMP/floor.log" >&2; exit 1; }
start crossroads env FAKE_URL="http://$FAKE_ADDR" "$BIN/crossroads" serve --config bench/scenarios/crossroads.yaml --data-dir "$TMP/data"
CR_PID=$LAST_PID
wait_port "$CR_PLAIN" "$CR_PID" 30 || { cat "$TMP/crossroads.log" >&2; exit 1; }

# body MODEL TEMPERATURE FILE: the request every worker sends.
body() {
	printf '{"model":"%s","messages":[{"role":"system","content":"You are a concise assistant for a travel site."},{"role":"user","content":"What is the weather usually like in Paris in early spring?"}],"max_tokens":512,"temperature":%s}' "$1" "$2" >"$3"
}
body gpt-4o-mini 0 "$TMP/floor.json"
body fake/gpt-4o-mini 0 "$TMP/cr.json"
body fake/gpt-4o-mini 0.7 "$TMP/cr-sampled.json"

# run LABEL PID URL BODY [ARGS...]: one recorded run.
run() {
	local label=$1 pid=$2 url=$3 bodyf=$4 r=$5
	shift 5
	local out
	if ! out=$("$BIN/loadgen" -json -label "$label" -round "$r" -pid "$pid" -url "$url" -body "$bodyf" \
		-c "$C" -d "$D" -warmup "$WARMUP" "$@" 2>"$TMP/lg.err"); then
		note "$label round $r failed: $(head -c 300 "$TMP/lg.err" | tr '\n' ' ')"
		return 0
	fi
	printf '%s\n' "$out" >>"$RESULTS"
	log "$(jq -r '"\(.label)#\(.round): \(.rps|floor) req/s p50 \(.latency.p50_us|floor)µs cpu/req \(.cpu_us_per_req // 0|floor)µs errors \(.errors)"' <<<"$out")"
}

CR_URL=http://$CR_PLAIN/v1/chat/completions
# Fill the cache once; the check makes sure hits are hits.
hdrs=$(curl -s -D - -o /dev/null -H 'Content-Type: application/json' --data @"$TMP/cr.json" "$CR_URL")
hdrs=$(curl -s -D - -o /dev/null -H 'Content-Type: application/json' --data @"$TMP/cr.json" "$CR_URL")
grep -qi '^x-crossroads-cache: HIT' <<<"$hdrs" || note "the repeat request was not a hit: $(tr '\r\n' '  ' <<<"$hdrs")"
RESP_BYTES=$(curl -s -H 'Content-Type: application/json' --data @"$TMP/cr.json" "$CR_URL" | wc -c)

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
targets=(floor miss hit sampled)
for r in $(seq "$ROUNDS"); do
	for i in 0 1 2 3; do
		t=${targets[$(((i + r - 1) % 4))]}
		case $t in
		floor) run floor "$FLOOR_PID" "http://$FLOOR_ADDR/v1/chat/completions" "$TMP/floor.json" "$r" ;;
		miss) run crossroads-miss "$CR_PID" "$CR_URL" "$TMP/cr.json" "$r" -H "Cache-Control: no-cache" ;;
		hit) run crossroads-hit "$CR_PID" "$CR_URL" "$TMP/cr.json" "$r" ;;
		sampled) run crossroads-uncached "$CR_PID" "$CR_URL" "$TMP/cr-sampled.json" "$r" ;;
		esac
	done
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo nocommit)
mkdir -p "$OUT"
REPORT=$OUT/$(date -u +%Y-%m-%d)-cache-$COMMIT.md
{
	echo "# Prompt cache over h1 loopback, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo
	echo "commit \`$COMMIT\`; $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'); load before $LOAD_BEFORE, after $LOAD_AFTER."
	echo "\`bench/cache.sh -rounds $ROUNDS -d $D -c $C -size $SIZE\`: closed loop, c=$C, h1, one identical temperature-0 request,"
	echo "zero-delay fake upstream, answer $RESP_BYTES bytes. Medians over $ROUNDS interleaved rounds; CPU is the target process only."
	echo
	if [ -s "$NOTES" ]; then sed 's/^/- /' "$NOTES"; echo; fi
	echo "| target | req/s | p50 µs | p99 µs | CPU µs/req | errors |"
	echo "|---|---|---|---|---|---|"
	jq -rs 'group_by(.label)[] | sort_by(.rps) as $g | ($g | length) as $n | $g[($n/2|floor)] as $m |
		"| \($m.label) | \($m.rps|floor) | \($m.latency.p50_us|floor) | \($m.latency.p99_us|floor) | \($m.cpu_us_per_req // 0|floor) | \([$g[].errors]|add) |"' "$RESULTS"
	echo
	echo "Hit throughput ÷ miss throughput (medians): $(jq -rs '[group_by(.label)[] | {key: .[0].label, value: (map(.rps) | sort | .[length / 2 | floor])}] | from_entries | .["crossroads-hit"] / .["crossroads-miss"] * 100 | floor / 100' "$RESULTS")"
	echo
	echo "## Raw"
	echo
	echo "| target#round | req/s | p50 µs | p99 µs | CPU µs/req |"
	echo "|---|---|---|---|---|"
	jq -r '"| \(.label)#\(.round) | \(.rps|floor) | \(.latency.p50_us|floor) | \(.latency.p99_us|floor) | \(.cpu_us_per_req // 0|floor) |"' "$RESULTS"
} >"$REPORT"
log "report: $REPORT"
