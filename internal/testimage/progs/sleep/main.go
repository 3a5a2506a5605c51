// Command sleep is a test workload that sleeps for -for (default forever)
// and exits 0, or at once on SIGTERM/SIGINT unless -ignore-term is set.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	d := flag.Duration("for", 0, "how long to sleep (0: forever)")
	ignore := flag.Bool("ignore-term", false, "ignore SIGTERM and SIGINT")
	flag.Parse()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	var timeout <-chan time.Time
	if *d > 0 {
		timeout = time.After(*d)
	}
	fmt.Println("sleep: started")
	for {
		select {
		case s := <-sig:
			if *ignore {
				fmt.Printf("sleep: ignoring %v\n", s)
				continue
			}
			fmt.Printf("sleep: %v\n", s)
			return
		case <-timeout:
			return
		}
	}
}
