//go:build race

package fuel

// raceEnabled: wazero's compiler is itself race-instrumented under -race and
// then needs ~20 s per megabyte-sized module, so big-module tests switch to
// the interpreter, which validates the same way.
const raceEnabled = true
