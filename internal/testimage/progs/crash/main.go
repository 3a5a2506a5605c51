// Command crash is a test workload that prints a line, waits DELAY (a Go
// duration, default 0) and exits with code EXIT_CODE (default 1). Flags
// -after and -code override the environment.
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"
)

func main() {
	delay, _ := time.ParseDuration(os.Getenv("DELAY"))
	code := 1
	if v, err := strconv.Atoi(os.Getenv("EXIT_CODE")); err == nil {
		code = v
	}
	flag.DurationVar(&delay, "after", delay, "how long to run before exiting")
	flag.IntVar(&code, "code", code, "exit code")
	flag.Parse()
	fmt.Printf("crash: run %d started, exiting with code %d after %v\n", time.Now().UnixNano(), code, delay)
	time.Sleep(delay)
	fmt.Printf("crash: exiting with code %d\n", code)
	os.Exit(code)
}
