#!/usr/bin/env bash
# Installs what the plugin builds need, if missing: Debian's clang, lld, wasi-libc and the
# wasm32 compiler runtime (C plugins), wabt (WAT), and Node.js with npm (AssemblyScript;
# the compiler itself comes from the npm registry, pinned by each package's lock file).
# Go plugins need only Go. Also Debian's redis-server, which the shared cache store's tests
# run against. Safe to run repeatedly: it installs nothing already there.
set -euo pipefail

have_c() {
	{ command -v clang-14 >/dev/null || command -v clang >/dev/null; } &&
		{ command -v wasm-ld-14 >/dev/null || command -v wasm-ld >/dev/null; } &&
		compgen -G "/usr/lib/wasm32-wasi*/libc.a" >/dev/null &&
		compgen -G "/usr/lib/llvm-*/lib/clang/*/lib/wasi*/libclang_rt.builtins-wasm32.a" >/dev/null
}

# Debian 12 ships clang 14 with a matching wasm32 runtime; later releases name theirs after
# the default clang's major version.
c_packages() {
	if apt-cache show clang-14 >/dev/null 2>&1 && apt-cache show libclang-rt-14-dev-wasm32 >/dev/null 2>&1; then
		echo clang-14 lld-14 wasi-libc libclang-rt-14-dev-wasm32
		return
	fi
	local v
	v=$(apt-cache depends clang 2>/dev/null | sed -n 's/.*Depends: clang-\([0-9][0-9]*\)$/\1/p' | head -1)
	echo clang lld wasi-libc "libclang-rt-${v}-dev-wasm32"
}

missing=()
have_c || missing+=(C)
command -v wat2wasm >/dev/null || missing+=(wabt)
command -v npm >/dev/null || missing+=(nodejs npm)
command -v redis-server >/dev/null || missing+=(redis-server)

if [ ${#missing[@]} -gt 0 ]; then
	SUDO=""
	if [ "$(id -u)" != 0 ]; then
		command -v sudo >/dev/null || { echo "toolchains: need root or sudo to install ${missing[*]}" >&2; exit 1; }
		SUDO=sudo
	fi
	$SUDO apt-get update -qq
	if [ "${missing[0]}" = C ]; then
		missing=($(c_packages) "${missing[@]:1}")
	fi
	echo "toolchains: installing ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
