// Command echo is mini's test workload: an HTTP server on :8080 (PORT
// overrides) answering with its pod name (env POD_NAME) and hostname, with a
// /healthz that fails while the file HEALTH_FILE (default /unhealthy)
// exists or after GET /fail (until GET /recover), and a /whoami that adds
// the address the request came from (client=IP:PORT), for network tests. On
// SIGTERM it waits TERM_DELAY (a Go duration, default 0) and exits 0.
//
// Run with a first argument naming a tool, it acts as the small userland
// the test image lacks (it is built FROM scratch), for exec and probes:
//
//	echo print WORDS...     print the words on stdout
//	echo stderr WORDS...    print the words on stderr
//	echo exit N             exit with code N
//	echo cat                copy stdin to stdout
//	echo read FILE          print a file
//	echo write FILE TEXT    write TEXT to FILE
//	echo env                print the environment
//	echo hostname           print the hostname
//	echo tty                print whether stdin is a terminal
//	echo check URL          exit 0 when GET URL answers 2xx/3xx, else 1
//	echo get URL            print the body of GET URL (exit 1 unless 2xx/3xx)
//	echo lookup NAME        print NAME's addresses, one a line (resolv.conf)
//	echo srv NAME           print the SRV records of NAME as "TARGET PORT"
//	echo sleep DURATION [TOOL ARGS...]  sleep, then run a tool
//	echo alloc MEGABYTES    use that much memory, then sleep
//	echo fail-health        create HEALTH_FILE; echo heal removes it
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

func main() {
	if len(os.Args) > 1 {
		os.Exit(tool(os.Args[1], os.Args[2:]))
	}
	serve()
}

func healthFile() string {
	if f := os.Getenv("HEALTH_FILE"); f != "" {
		return f
	}
	return "/unhealthy"
}

func serve() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	host, _ := os.Hostname()
	pod := os.Getenv("POD_NAME")
	var failing atomic.Bool
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Printf("echo: %s %s from %s\n", r.Method, r.URL.Path, r.RemoteAddr)
		fmt.Fprintf(w, "pod=%s host=%s\n", pod, host)
	})
	mux.HandleFunc("/whoami", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "pod=%s host=%s client=%s\n", pod, host, r.RemoteAddr)
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if _, err := os.Stat(healthFile()); err == nil || failing.Load() {
			http.Error(w, "unhealthy", http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/fail", func(w http.ResponseWriter, r *http.Request) { failing.Store(true); fmt.Fprintln(w, "failing") })
	mux.HandleFunc("/recover", func(w http.ResponseWriter, r *http.Request) { failing.Store(false); fmt.Fprintln(w, "recovered") })
	srv := &http.Server{Addr: ":" + port, Handler: mux}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		s := <-sig
		delay, _ := time.ParseDuration(os.Getenv("TERM_DELAY"))
		fmt.Printf("echo: received %v, exiting in %v\n", s, delay)
		time.Sleep(delay)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		fmt.Println("echo: bye")
		os.Exit(0)
	}()
	fmt.Printf("echo: pod %s host %s listening on :%s\n", pod, host, port)
	fmt.Fprintf(os.Stderr, "echo: started (stderr)\n")
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		log.Fatal(err)
	}
	select {}
}

func tool(name string, args []string) int {
	arg := func(i int) string {
		if i < len(args) {
			return args[i]
		}
		return ""
	}
	switch name {
	case "print":
		fmt.Println(strings.Join(args, " "))
	case "stderr":
		fmt.Fprintln(os.Stderr, strings.Join(args, " "))
	case "exit":
		n, _ := strconv.Atoi(arg(0))
		return n
	case "cat":
		io.Copy(os.Stdout, os.Stdin)
	case "read":
		b, err := os.ReadFile(arg(0))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		os.Stdout.Write(b)
	case "write":
		if err := os.WriteFile(arg(0), []byte(arg(1)), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	case "env":
		env := os.Environ()
		sort.Strings(env)
		fmt.Println(strings.Join(env, "\n"))
	case "hostname":
		h, _ := os.Hostname()
		fmt.Println(h)
	case "tty":
		return ttyInfo()
	case "check":
		return httpGet(arg(0), io.Discard)
	case "get":
		return httpGet(arg(0), os.Stdout)
	case "lookup":
		return lookup(arg(0))
	case "srv":
		return lookupSRV(arg(0))
	case "sleep": // sleep DURATION [TOOL ARGS...]
		d, _ := time.ParseDuration(arg(0))
		time.Sleep(d)
		if len(args) > 1 {
			return tool(args[1], args[2:])
		}
	case "alloc": // alloc MEGABYTES: touch that much memory, then sleep
		n, _ := strconv.Atoi(arg(0))
		var keep [][]byte
		for i := 0; i < n; i++ {
			b := make([]byte, 1<<20)
			for j := range b {
				b[j] = byte(j)
			}
			keep = append(keep, b)
		}
		fmt.Printf("allocated %d MiB\n", len(keep))
		time.Sleep(time.Hour)
	case "fail-health":
		return boolExit(os.WriteFile(healthFile(), nil, 0o644) == nil)
	case "heal":
		return boolExit(os.Remove(healthFile()) == nil)
	default:
		fmt.Fprintf(os.Stderr, "echo: unknown tool %q\n", name)
		return 127
	}
	return 0
}

// httpGet GETs url (2 s timeout), copies the body to out and returns 0 for
// a 2xx/3xx answer, else 1.
func httpGet(url string, out io.Writer) int {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer resp.Body.Close()
	io.Copy(out, resp.Body)
	if resp.StatusCode >= 400 {
		fmt.Fprintln(os.Stderr, resp.Status)
		return 1
	}
	return 0
}

// lookup prints the addresses of name (through /etc/resolv.conf, search
// path included), one a line.
func lookup(name string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupHost(ctx, name)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	sort.Strings(addrs)
	fmt.Println(strings.Join(addrs, "\n"))
	return 0
}

// lookupSRV prints the SRV records of name (e.g.
// _http._tcp.web.default.svc.cluster.local) as "TARGET PORT", one a line.
func lookupSRV(name string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, srvs, err := net.DefaultResolver.LookupSRV(ctx, "", "", name)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for _, s := range srvs {
		fmt.Printf("%s %d\n", s.Target, s.Port)
	}
	return 0
}

func boolExit(ok bool) int {
	if ok {
		return 0
	}
	return 1
}

// ttyInfo prints "tty ROWSxCOLS" when stdin is a terminal, else "notty".
func ttyInfo() int {
	var ws struct{ Row, Col, X, Y uint16 }
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, 0, syscall.TIOCGWINSZ, uintptr(unsafe.Pointer(&ws)))
	if errno != 0 {
		fmt.Println("notty")
		return 0
	}
	fmt.Printf("tty %dx%d\n", ws.Row, ws.Col)
	return 0
}
