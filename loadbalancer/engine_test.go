package loadbalancer

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"
)

// TestManyConnectionsKeepTheirBytes: 40 clients at once, through one
// listener to three echo backends, each send rounds of messages from 1 byte
// to 300 KiB (small ones copied, large ones spliced, then small again on
// the same connection) and read each back whole; then each half-closes and
// reads to EOF. Every byte must come back in order on its own connection.
func TestManyConnectionsKeepTheirBytes(t *testing.T) {
	backs := []string{}
	for _, n := range []string{"a", "b", "c"} {
		backs = append(backs, startTagServer(t, n, "127.0.0.1:0").Addr())
	}
	l := startLB(t, Config{APIListen: "127.0.0.1:0", APIBackend: backs[0], HealthInterval: time.Hour})
	l.pools[0].SetBackends(backs)
	front := l.TCPAddrs()[0].String()
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := echoRounds(front, rand.New(rand.NewPCG(uint64(i), 7))); err != nil {
				errs <- fmt.Errorf("client %d: %w", i, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// echoRounds connects to addr, reads the greeting, then sends messages of
// random sizes and checks each comes back whole, then half-closes and
// expects EOF.
func echoRounds(addr string, rng *rand.Rand) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	greet := make([]byte, 2) // "a\n"
	if _, err := io.ReadFull(c, greet); err != nil {
		return fmt.Errorf("greeting: %w", err)
	}
	for round := range 6 {
		size := 1 + rng.IntN(64)
		if round%3 == 1 {
			size = 64<<10 + rng.IntN(240<<10)
		}
		msg := make([]byte, size)
		for i := range msg {
			msg[i] = byte(rng.Uint32())
		}
		werr := make(chan error, 1)
		go func() { _, err := c.Write(msg); werr <- err }()
		got := make([]byte, size)
		if _, err := io.ReadFull(c, got); err != nil {
			return fmt.Errorf("round %d: reading %d bytes back: %w", round, size, err)
		}
		if err := <-werr; err != nil {
			return fmt.Errorf("round %d: write: %w", round, err)
		}
		if !bytes.Equal(got, msg) {
			return fmt.Errorf("round %d: %d bytes came back different", round, size)
		}
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		return err
	}
	if rest, err := io.ReadAll(c); err != nil || len(rest) != 0 {
		return fmt.Errorf("after half-close: read %d more bytes, %v; want EOF", len(rest), err)
	}
	return nil
}
