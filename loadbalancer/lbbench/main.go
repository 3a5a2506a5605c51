// Command lbbench holds the pieces of scripts/bench-lb written in Go: the
// HTTP backends the load balancers under test forward to, the Nodes that
// point mini lb at them, a throughput client, and a free-port finder.
//
//	lbbench ports N                          N TCP ports free on 127.0.0.1-3
//	lbbench backends -port P -ips A,B,C      HTTP servers on A:P, B:P, C:P
//	lbbench nodes -kubeconfig F -ips A,B,C   Ready Nodes with those InternalIPs, kept alive
//	lbbench fetch URL BYTES                  GET, discard, print bytes/second
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"

	"github.com/minicluster/mini/control/client"
	"github.com/minicluster/mini/node/heartbeat"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: lbbench ports|backends|nodes|fetch ...")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "ports":
		err = ports(os.Args[2:])
	case "backends":
		err = backends(os.Args[2:])
	case "nodes":
		err = nodes(os.Args[2:])
	case "fetch":
		err = fetch(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "lbbench:", err)
		os.Exit(1)
	}
}

// ports prints N ports that are free on 127.0.0.1, .2 and .3.
func ports(args []string) error {
	n := 1
	if len(args) > 0 {
		var err error
		if n, err = strconv.Atoi(args[0]); err != nil || n < 1 {
			return fmt.Errorf("ports: count %q is not a positive number", args[0])
		}
	}
	var out []string
	var hold []net.Listener
	defer func() {
		for _, l := range hold {
			l.Close()
		}
	}()
	for len(out) < n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		hold = append(hold, l)
		p := l.Addr().(*net.TCPAddr).Port
		free := true
		for _, ip := range []string{"127.0.0.2", "127.0.0.3"} {
			if l2, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(p))); err != nil {
				free = false
			} else {
				l2.Close()
			}
		}
		if free {
			out = append(out, strconv.Itoa(p))
		}
	}
	fmt.Println(strings.Join(out, " "))
	return nil
}

var chunk = make([]byte, 1<<20)

// backends serves "/" (a short body) and "/big?bytes=N" (N zero bytes) on
// each ip:port until SIGTERM or SIGINT.
func backends(args []string) error {
	fs := flag.NewFlagSet("backends", flag.ContinueOnError)
	port := fs.Int("port", 0, "port to listen on")
	ips := fs.String("ips", "127.0.0.1,127.0.0.2,127.0.0.3", "addresses to listen on")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *port == 0 {
		return errors.New("backends: -port is required")
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.ParseInt(r.URL.Query().Get("bytes"), 10, 64)
		if err != nil || n < 0 {
			http.Error(w, "bytes=N wanted", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		for n > 0 {
			k := min(n, int64(len(chunk)))
			if _, err := w.Write(chunk[:k]); err != nil {
				return
			}
			n -= k
		}
	})
	errc := make(chan error, 3)
	for _, ip := range strings.Split(*ips, ",") {
		ln, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(*port)))
		if err != nil {
			return err
		}
		go func() { errc <- http.Serve(ln, mux) }()
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	select {
	case <-sig:
		return nil
	case err := <-errc:
		return err
	}
}

// nodes registers Ready nodes bench-1.. with the given InternalIPs, prints
// "ready", and then renews their leases (as node agents do, so that the
// node lifecycle does not mark them Unknown after its grace and take them
// out of the load balancer) until SIGTERM or SIGINT.
func nodes(args []string) error {
	fs := flag.NewFlagSet("nodes", flag.ContinueOnError)
	kc := fs.String("kubeconfig", "", "admin kubeconfig")
	ips := fs.String("ips", "127.0.0.1,127.0.0.2,127.0.0.3", "node InternalIPs")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, _, err := client.LoadKubeconfig(*kc, "")
	if err != nil {
		return err
	}
	c, err := client.New(cfg)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	regCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var registered []*corev1.Node
	for i, ip := range strings.Split(*ips, ",") {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("bench-%d", i+1)},
			Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}}}}
		n, err := heartbeat.Register(regCtx, c, n)
		if err != nil {
			return err
		}
		if err := heartbeat.SetReady(regCtx, c, n.Name, true, "Bench", "", time.Now()); err != nil {
			return err
		}
		registered = append(registered, n)
	}
	fmt.Println("ready")
	var wg sync.WaitGroup
	for _, n := range registered {
		wg.Add(1)
		go func() {
			defer wg.Done()
			heartbeat.Loop(ctx, c, n.Name, n.UID, heartbeat.Timing{}, clock.RealClock{},
				func() (bool, string) { return true, "bench" },
				func(err error) { fmt.Fprintf(os.Stderr, "lbbench: node %s: %v\n", n.Name, err) })
		}()
	}
	wg.Wait()
	return nil
}

// fetch downloads URL, checks it got BYTES bytes and prints bytes/second.
func fetch(args []string) error {
	if len(args) != 2 {
		return errors.New("fetch: want URL BYTES")
	}
	want, err := strconv.ParseInt(args[1], 10, 64)
	if err != nil {
		return fmt.Errorf("fetch: bytes %q: %w", args[1], err)
	}
	start := time.Now()
	resp, err := http.Get(args[0])
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	n, err := io.CopyBuffer(io.Discard, resp.Body, make([]byte, 1<<20))
	if err != nil {
		return err
	}
	if n != want {
		return fmt.Errorf("fetch: got %d bytes, want %d", n, want)
	}
	fmt.Printf("%.0f\n", float64(n)/time.Since(start).Seconds())
	return nil
}
