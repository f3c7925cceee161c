#!/usr/bin/env bash
# Installs what the plugin builds need, if missing: Debian's clang, lld, wasi-libc and the
# wasm32 compiler runtime (C plugins), wabt (WAT), and Node.js with npm (AssemblyScript;
# the compiler itself comes from the npm registry, pinned by each package's lock file).
# Go plugins need only Go. Safe to run repeatedly: it installs nothing already there.
set -euo pipefail

have_c() {
	command -v clang-14 >/dev/null && command -v wasm-ld-14 >/dev/null &&
		[ -f /usr/lib/wasm32-wasi/libc.a ] &&
		compgen -G "/usr/lib/llvm-14/lib/clang/14*/lib/wasi/libclang_rt.builtins-wasm32.a" >/dev/null
}

missing=()
have_c || missing+=(clang-14 lld-14 wasi-libc libclang-rt-14-dev-wasm32)
command -v wat2wasm >/dev/null || missing+=(wabt)
command -v npm >/dev/null || missing+=(nodejs npm)

if [ ${#missing[@]} -gt 0 ]; then
	SUDO=""
	if [ "$(id -u)" != 0 ]; then
		command -v sudo >/dev/null || { echo "toolchains: need root or sudo to install ${missing[*]}" >&2; exit 1; }
		SUDO=sudo
	fi
	echo "toolchains: installing ${missing[*]}"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
