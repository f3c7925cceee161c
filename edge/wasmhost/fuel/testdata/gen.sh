#!/bin/sh
# Compiles every testdata/*.wat to a .wasm in directory $1 (default testdata).
# Run by go generate; TestFixturesUpToDate runs it into a temporary directory.
set -e
cd "$(dirname "$0")"
out=${1:-.}
for f in *.wat; do
	flags=
	case $f in
	tailcall.wat) flags=--enable-tail-call ;;
	features.wat) flags=--enable-threads ;;
	exceptions.wat) flags=--enable-exceptions ;;
	esac
	wat2wasm $flags "$f" -o "$out/${f%.wat}.wasm"
done
