package loadbalancer

import (
	"bytes"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// readChars returns rchar from /proc/self/io: bytes this process moved
// through read(2)-family calls. splice(2) does not count there.
func readChars(t *testing.T) int64 {
	t.Helper()
	data, err := os.ReadFile("/proc/self/io")
	if err != nil {
		t.Skipf("no I/O accounting here: %v", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "rchar: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	t.Skip("no rchar in /proc/self/io")
	return 0
}

// TestCopySplices proves the proxy's bytes do not pass through user space:
// 64 MiB sent by a backend and read by the client (both in this process)
// add about 64 MiB to the process's read(2) count, not 128 MiB as a
// user-space copy in the proxy would.
func TestCopySplices(t *testing.T) {
	const size = 64 << 20
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				chunk := bytes.Repeat([]byte{'x'}, 1<<20)
				for i := 0; i < size/len(chunk); i++ {
					if _, err := c.Write(chunk); err != nil {
						return
					}
				}
			}()
		}
	}()
	l := startLB(t, Config{APIListen: "127.0.0.1:0", APIBackend: ln.Addr().String(), HealthInterval: time.Hour})
	c, err := net.Dial("tcp", l.TCPAddrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	before := readChars(t)
	n, err := io.Copy(io.Discard, c)
	after := readChars(t)
	if err != nil || n != size {
		t.Fatalf("client read %d bytes, %v; want %d", n, err, size)
	}
	read := after - before
	t.Logf("%d bytes proxied; the process read(2) %d bytes", n, read)
	if read > size*3/2 {
		t.Fatalf("process read %d bytes for %d proxied, want about %d (the client's own reads): the proxy copies through user space", read, size, size)
	}
}
