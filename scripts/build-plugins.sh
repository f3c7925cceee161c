#!/usr/bin/env bash
# Builds every WebAssembly plugin in the repository: first-party plugins (plugins/<kind>/<name>
# -> plugins/dist/<kind>-<name>.wasm) and the examples (examples/*/<lang> -> plugin.wasm in that
# folder). Each folder's language is told by what it holds: *.c (C, clang + wasi-libc),
# main.go (Go, GOOS=wasip1), package.json (AssemblyScript), *.wat (wabt).
# Toolchains: scripts/toolchains.sh installs them.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

CLANG=${CLANG:-$(command -v clang-14 || command -v clang || true)}
GO=${GO:-go}

build_c() { # dir out
	[ -n "$CLANG" ] || { echo "build-plugins: clang not found (scripts/toolchains.sh installs it)" >&2; exit 1; }
	"$CLANG" --target=wasm32-wasi --sysroot=/usr -O2 -mexec-model=reactor -fuse-ld=lld \
		-Wall -Wextra -Werror -Wno-unused-parameter -I"$ROOT/sdk/c" \
		-Wl,--strip-all -o "$2" "$1"/*.c
}
build_go() {
	(cd "$1" && GOOS=wasip1 GOARCH=wasm "$GO" build -trimpath -buildmode=c-shared -ldflags='-s -w' -o "$2" .)
}
build_as() {
	(cd "$1" && { [ -d node_modules ] || npm install --no-audit --no-fund --silent; } && npm run --silent build -- -o "$2")
}
build_wat() {
	command -v wat2wasm >/dev/null || { echo "build-plugins: wat2wasm not found (Debian package wabt)" >&2; exit 1; }
	wat2wasm --enable-all -o "$2" "$1"/*.wat
}

build() { # dir out
	local dir=$1 out=$2
	if compgen -G "$dir/*.c" >/dev/null; then build_c "$dir" "$out"
	elif [ -f "$dir/main.go" ]; then build_go "$dir" "$out"
	elif [ -f "$dir/package.json" ]; then build_as "$dir" "$out"
	elif compgen -G "$dir/*.wat" >/dev/null; then build_wat "$dir" "$out"
	else return 0
	fi
	echo "built $(realpath --relative-to="$ROOT" "$out") ($(stat -c %s "$out") bytes)"
}

mkdir -p plugins/dist
for dir in plugins/*/*/; do
	dir=${dir%/}
	kind=$(basename "$(dirname "$dir")"); name=$(basename "$dir")
	[ "$kind" = dist ] && continue
	build "$dir" "$ROOT/plugins/dist/$kind-$name.wasm"
done
for dir in examples/*/*/; do
	dir=${dir%/}
	build "$dir" "$ROOT/$dir/plugin.wasm"
done
