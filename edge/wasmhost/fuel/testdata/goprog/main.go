// Command goprog is a tiny wasip1 program for the fuel tests: it loops,
// recurses and allocates, then prints a result that must not change when the
// module is instrumented. It avoids fmt to keep the module (and wazero's
// compile time under -race) small.
package main

import (
	"os"
	"slices"
	"strconv"
	"strings"
)

func collatz(n uint64) int {
	steps := 0
	for n != 1 {
		if n%2 == 0 {
			n /= 2
		} else {
			n = 3*n + 1
		}
		steps++
	}
	return steps
}

func fib(n int) int {
	if n < 2 {
		return n
	}
	return fib(n-1) + fib(n-2)
}

func main() {
	total := 0
	for i := uint64(1); i <= 3000; i++ {
		total += collatz(i)
	}
	words := strings.Fields("the quick brown fox jumps over the lazy dog")
	slices.Sort(words)
	m := map[string]int{}
	for _, w := range words {
		m[w]++
	}
	out := "collatz=" + strconv.Itoa(total) + " fib=" + strconv.Itoa(fib(18)) +
		" words=" + strings.Join(words, ",") + " the=" + strconv.Itoa(m["the"]) + "\n"
	os.Stdout.WriteString(out)
}
