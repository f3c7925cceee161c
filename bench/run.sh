#!/usr/bin/env bash
# bench/run.sh: build the bench tools and the node, start the fake upstream,
# the floor proxy and crossroads, run the same scenarios against all three in
# interleaved rounds, and write a markdown report to
# bench/results/<UTC date>-<short commit>.md. See bench/README.md.
set -euo pipefail

usage() {
	cat <<'EOF'
usage: bench/run.sh [options]
  -rounds N        rounds of every scenario (default 3)
  -d DUR           duration of scenarios a and b (default 10s)
  -sd DUR          duration of each streaming run, scenario c (default 3s)
  -hd DUR          duration of each h2/h3 run, scenario d (default 4s)
  -warmup DUR      unrecorded warm-up before every run (default 500ms)
  -slow-streams    also run scenario e: 10,000 concurrent slow streams (~4 min more)
  -slow-n N        streams in scenario e (default 10000)
  -slow-tps R      chunk rate of the slow upstream (default 2)
  -slow-chunks N   chunks per slow stream (default 100, i.e. 50 s streams)
  -no-crossroads   measure direct and floor only
  -out DIR         report directory (default bench/results)
  -keep            keep the temporary directory (logs, results.jsonl)
Environment: CROSSROADS_KEY, if set, is sent as "Authorization: Bearer" to crossroads.
EOF
}

ROUNDS=3 D=10s SD=3s HD=4s WARMUP=500ms SLOW=0 SLOW_N=10000 SLOW_TPS=2 SLOW_CHUNKS=100 CROSSROADS=1 KEEP=0 OUT=""
while [ $# -gt 0 ]; do
	case "$1" in
	-rounds) ROUNDS=$2; shift 2 ;;
	-d) D=$2; shift 2 ;;
	-sd) SD=$2; shift 2 ;;
	-hd) HD=$2; shift 2 ;;
	-warmup) WARMUP=$2; shift 2 ;;
	-slow-streams) SLOW=1; shift ;;
	-slow-n) SLOW_N=$2; shift 2 ;;
	-slow-tps) SLOW_TPS=$2; shift 2 ;;
	-slow-chunks) SLOW_CHUNKS=$2; shift 2 ;;
	-no-crossroads) CROSSROADS=0; shift ;;
	-out) OUT=$2; shift 2 ;;
	-keep) KEEP=1; shift ;;
	-h | -help | --help) usage; exit 0 ;;
	*) echo "run.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
	esac
done

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
OUT=${OUT:-$ROOT/bench/results}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/crossroads-bench.XXXXXX")
BIN=$TMP/bin
RESULTS=$TMP/results.jsonl
NOTES=$TMP/notes.md
: >"$RESULTS"
: >"$NOTES"

FAKE_ADDR=127.0.0.1:9001
SLOW_ADDR=127.0.0.1:9003
FLOOR_ADDR=127.0.0.1:9101
CR_PLAIN=127.0.0.1:9180
CR_TLS=127.0.0.1:9443

. "$ROOT/bench/lib.sh"

for a in $FAKE_ADDR $SLOW_ADDR $FLOOR_ADDR $CR_PLAIN $CR_TLS; do
	if port_open "$a"; then
		echo "run.sh: $a is already in use; stop whatever listens there first" >&2
		exit 1
	fi
done

# ---- build ---------------------------------------------------------------
log "building bench tools into $BIN"
mkdir -p "$BIN"
go build -o "$BIN/" ./bench/fakeupstream/cmd/fakeupstream ./bench/floor ./bench/loadgen
if [ "$CROSSROADS" = 1 ]; then
	log "building crossroads"
	if ! go build -o "$BIN/crossroads" ./edge/cmd/crossroads 2>"$TMP/build-crossroads.log"; then
		note "crossroads did not build; measured direct and floor only. Build output: $(head -c 600 "$TMP/build-crossroads.log" | tr '\n' ' ')"
		CROSSROADS=0
	fi
fi
LG=$BIN/loadgen

# ---- machine info ----------------------------------------------------------
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo nocommit)
DIRTY=""
git diff --quiet HEAD 2>/dev/null || DIRTY=" (working tree has uncommitted changes)"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
START_TS=$(date -u +%Y-%m-%dT%H:%M:%SZ)

# ---- start servers -----------------------------------------------------------
start fakeupstream "$BIN/fakeupstream" -addr "$FAKE_ADDR"
FAKE_PID=$LAST_PID
wait_port "$FAKE_ADDR" "$FAKE_PID" 10 || { cat "$TMP/fakeupstream.log" >&2; exit 1; }
start floor "$BIN/floor" -addr "$FLOOR_ADDR" -upstream "http://$FAKE_ADDR"
FLOOR_PID=$LAST_PID
wait_port "$FLOOR_ADDR" "$FLOOR_PID" 10 || { cat "$TMP/floor.log" >&2; exit 1; }

CR_PID=""
CR_AUTH=()
[ -n "${CROSSROADS_KEY:-}" ] && CR_AUTH=(-H "Authorization: Bearer $CROSSROADS_KEY")

# start_crossroads UPSTREAM_URL DATA_DIR: sets CR_PID, or returns 1.
start_crossroads() {
	local data=$2
	start crossroads env FAKE_URL="$1" "$BIN/crossroads" serve --config bench/scenarios/crossroads.yaml --data-dir "$data"
	CR_PID=$LAST_PID
	local i
	for i in $(seq 300); do
		if port_open "$CR_PLAIN" && [ -s "$data/tls/cert.pem" ]; then
			return 0
		fi
		kill -0 "$CR_PID" 2>/dev/null || break
		sleep 0.1
	done
	note "crossroads did not come up (plain $CR_PLAIN + $data/tls/cert.pem). Log: $(tail -c 600 "$TMP/crossroads.log" | tr '\n' ' ')"
	stop "$CR_PID"
	CR_PID=""
	return 1
}

if [ "$CROSSROADS" = 1 ]; then
	start_crossroads "http://$FAKE_ADDR" "$TMP/data" || CROSSROADS=0
fi

# ---- targets ---------------------------------------------------------------
# url model pid extra-args (per target)
declare -A T_URL T_MODEL T_PID
T_URL[direct]=http://$FAKE_ADDR/v1/chat/completions
T_MODEL[direct]=gpt-4o-mini
T_PID[direct]=$FAKE_PID
T_URL[floor]=http://$FLOOR_ADDR/v1/chat/completions
T_MODEL[floor]=gpt-4o-mini
T_PID[floor]=$FLOOR_PID
TARGETS=(direct floor)
if [ "$CROSSROADS" = 1 ]; then
	T_URL[crossroads]=http://$CR_PLAIN/v1/chat/completions
	T_MODEL[crossroads]=fake/gpt-4o-mini
	T_PID[crossroads]=$CR_PID
	TARGETS+=(crossroads)
fi

# target_args TARGET: sets TA to the loadgen arguments that select TARGET.
# URL_OVERRIDE, when set, replaces its URL (the TLS port of crossroads).
target_args() {
	TA=(-url "${URL_OVERRIDE:-${T_URL[$1]}}" -model "${T_MODEL[$1]}")
	if [ "$1" = crossroads ]; then TA+=("${CR_AUTH[@]}"); fi
}

# lg TARGET SCENARIO ROUND ARGS...: one recorded run, appended to $RESULTS.
lg() {
	local t=$1 s=$2 r=$3
	shift 3
	target_args "$t"
	local out
	if ! out=$("$LG" -json -label "$t" -scenario "$s" -round "$r" -pid "${T_PID[$t]}" \
		"${TA[@]}" "$@" 2>"$TMP/lg.err"); then
		note "run $s/$t/round $r failed: $(head -c 300 "$TMP/lg.err" | tr '\n' ' ')"
		return 0
	fi
	printf '%s\n' "$out" >>"$RESULTS"
	if command -v jq >/dev/null; then
		log "$(jq -r '"\(.scenario)#\(.round) \(.label): \(.rps|floor) req/s p50 \(.latency.p50_us // 0|floor)µs p99 \(.latency.p99_us // 0|floor)µs cpu/req \(.cpu_us_per_req // 0|floor)µs errors \(.errors)"' <<<"$out")"
	fi
}

# Pre-flight: one request per target and mode, so a broken target is dropped
# with a note instead of filling the report with errors.
preflight() {
	local t=$1 mode out
	target_args "$t"
	for mode in -stream=false -stream=true; do
		out=$("$LG" -json "${TA[@]}" -n 1 -c 1 "$mode" 2>&1) || true
		if ! grep -q '"ok":1,' <<<"$out"; then
			note "$t failed the pre-flight request ($mode): $(head -c 400 <<<"$out" | tr '\n' ' ')"
			return 1
		fi
	done
}
KEEP_TARGETS=()
for t in "${TARGETS[@]}"; do
	if preflight "$t"; then KEEP_TARGETS+=("$t"); elif [ "$t" = crossroads ]; then CROSSROADS=0; fi
done
TARGETS=("${KEEP_TARGETS[@]}")
log "targets: ${TARGETS[*]}"

CERT=$TMP/data/tls/cert.pem
TLS_URL=https://$CR_TLS/v1/chat/completions

# ---- rounds --------------------------------------------------------------
for r in $(seq "$ROUNDS"); do
	# Rotate the target order every round so no target always runs first
	# (right after a build) or last.
	n=${#TARGETS[@]}
	order=()
	for i in $(seq 0 $((n - 1))); do order+=("${TARGETS[$(((i + r - 1) % n))]}"); done
	log "round $r/$ROUNDS: ${order[*]}"
	for t in "${order[@]}"; do lg "$t" a "$r" -c 1 -d "$D" -warmup "$WARMUP"; done
	for t in "${order[@]}"; do lg "$t" b "$r" -c 64 -d "$D" -warmup "$WARMUP"; done
	for t in "${order[@]}"; do lg "$t" c1 "$r" -stream -c 1 -d "$SD" -warmup "$WARMUP"; done
	for t in "${order[@]}"; do lg "$t" c64 "$r" -stream -c 64 -d "$SD" -warmup "$WARMUP"; done
	# 200 chunks through the same upstream: the fake reads the directive
	# from the body's "user" field, which every proxy forwards.
	for t in "${order[@]}"; do lg "$t" c64x200 "$r" -stream -c 64 -d "$SD" -warmup "$WARMUP" -user fake:chunks=200; done
	if [ "$CROSSROADS" = 1 ]; then
		for p in h2 h3; do
			[ $((r % 2)) = 0 ] && p=$([ $p = h2 ] && echo h3 || echo h2)
			URL_OVERRIDE=$TLS_URL lg crossroads "d-$p" "$r" -proto "$p" -conns 4 -c 64 -d "$HD" -warmup "$WARMUP" -ca "$CERT"
		done
	fi
done

# ---- scenario e: concurrent slow streams ----------------------------------
if [ "$SLOW" = 1 ] && [ "$CROSSROADS" = 1 ]; then
	log "scenario e: $SLOW_N concurrent slow streams (fresh crossroads on a -tps $SLOW_TPS -chunks $SLOW_CHUNKS upstream)"
	start fakeupstream-slow "$BIN/fakeupstream" -addr "$SLOW_ADDR" -tps "$SLOW_TPS" -chunks "$SLOW_CHUNKS"
	SLOW_PID=$LAST_PID
	wait_port "$SLOW_ADDR" "$SLOW_PID" 10 || note "slow fake upstream did not start"
	stop "$CR_PID"
	for _ in $(seq 50); do port_open "$CR_PLAIN" || break; sleep 0.1; done
	if start_crossroads "http://$SLOW_ADDR" "$TMP/data-slow"; then
		T_PID[crossroads]=$CR_PID
		for r in 0 1 2 3; do
			URL_OVERRIDE=$TLS_URL lg crossroads e "$r" -proto h2 -conns 40 \
				-c "$SLOW_N" -n "$SLOW_N" -stream -d 5m -drain 2m -ca "$TMP/data-slow/tls/cert.pem"
		done
	fi
elif [ "$SLOW" = 1 ]; then
	note "scenario e skipped: crossroads is not running"
fi

# ---- report --------------------------------------------------------------
if grep -q '"label":"floor".*"stream-cut"' "$RESULTS"; then
	note "floor stream-cut errors are net/http's own: the HTTP/1 server closes the inbound body when response headers go out, the Transport's post-body read then fails and it tears down the upstream connection mid-stream (golang/go#40747). The floor is kept naive on purpose."
fi
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
mkdir -p "$OUT"
REPORT=$OUT/$(date -u +%Y-%m-%d)-$COMMIT.md
{
	echo "# Crossroads benchmark, $START_TS"
	echo
	echo "| | |"
	echo "|---|---|"
	echo "| commit | \`$COMMIT\`$DIRTY |"
	echo "| machine | $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), kernel $(uname -r) |"
	echo "| go | $(go version | cut -d' ' -f3-) |"
	echo "| load average (1/5/15 min) | before $LOAD_BEFORE, after $LOAD_AFTER |"
	echo "| parameters | rounds $ROUNDS, a/b $D, c $SD, d $HD, warm-up $WARMUP per run, slow streams $([ "$SLOW" = 1 ] && echo "$SLOW_N × $SLOW_CHUNKS chunks at $SLOW_TPS/s" || echo off) |"
	echo "| targets | ${TARGETS[*]} |"
	echo
	echo "Targets: **direct** = the fake upstream itself (\`bench/fakeupstream\`, no delay, 20 chunks of ~30 bytes);"
	echo "**floor** = bare \`httputil.ReverseProxy\` (\`bench/floor\`); **crossroads** = \`crossroads serve\` with"
	echo "\`bench/scenarios/crossroads.yaml\`. Load generator, proxy and upstream share the same cores, nothing is pinned."
	echo "CPU columns are the target process only, from /proc/PID/stat (10 ms ticks) over the measured window."
	echo "Latencies are in µs; medians are over rounds."
	if [ -s "$NOTES" ]; then
		echo
		echo "## Notes"
		echo
		sed 's/^/- /' "$NOTES"
	fi
	"$LG" -report "$RESULTS"
} >"$REPORT"
log "report: $REPORT"
