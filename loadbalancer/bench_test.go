package loadbalancer

import (
	"io"
	"log"
	"net"
	"testing"
	"time"
)

// startReplyServer answers each connection's first read with a short reply
// and closes, like an HTTP/1.0 server.
func startReplyServer(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	reply := []byte("HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 512)
				if _, err := c.Read(buf); err == nil {
					c.Write(reply)
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func oneRequest(b *testing.B, addr string) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.0\r\n\r\n")
	if _, err := io.ReadAll(c); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkNewConnection compares a connect-request-close round trip made
// directly and through the load balancer (the cost per proxied connection
// is the difference).
func BenchmarkNewConnection(b *testing.B) {
	backend := startReplyServer(b)
	b.Run("direct", func(b *testing.B) {
		for b.Loop() {
			oneRequest(b, backend)
		}
	})
	b.Run("lb", func(b *testing.B) {
		l, err := New(Config{APIListen: "127.0.0.1:0", APIBackend: backend, HealthInterval: time.Hour, Logger: log.New(io.Discard, "", 0)})
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		go l.tcp[0].serve()
		front := l.TCPAddrs()[0].String()
		b.ResetTimer()
		for b.Loop() {
			oneRequest(b, front)
		}
	})
}
