package wasmhost

// The test modules are committed as .wasm so tests need no wabt; TestTestdataUpToDate
// checks them against their .wat sources when wat2wasm is on PATH.
//go:generate sh -c "for f in testdata/*.wat; do wat2wasm \"$DOLLAR{f}\" -o \"$DOLLAR{f%.wat}.wasm\"; done"
