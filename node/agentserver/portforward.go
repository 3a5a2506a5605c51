package agentserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/streaming/pkg/httpstream"
	"k8s.io/streaming/pkg/httpstream/spdy"
	"k8s.io/streaming/pkg/httpstream/wsstream"

	"github.com/minicluster/mini/node/runtime"
)

// Port-forward protocols: kubectl 1.31+ tunnels SPDY through a WebSocket
// (subprotocol SPDY/3.1+portforward.k8s.io) and falls back to a plain SPDY
// upgrade; both carry the same streams.
const (
	portForwardProtocol = "portforward.k8s.io"
	tunnelProtocol      = "SPDY/3.1+" + portForwardProtocol
	pingPeriod          = 5 * time.Second
)

// servePortForward forwards connections to the pod's ports:
// /pods/{ns}/{name}/portforward. Each forwarded connection is a pair of
// SPDY streams with the same requestID: "error" (the agent reports
// failures on it) and "data" (the bytes), the port in their headers. The
// agent connects to the pod's IP on that port.
func (s *server) servePortForward(w http.ResponseWriter, r *http.Request, pod *corev1.Pod, st *runtime.PodState) {
	sb := st.Sandbox()
	if sb == nil || !sb.Running() {
		badRequest(w, fmt.Errorf("pod %s has no running sandbox to forward to", pod.Name))
		return
	}
	host := s.rt.IP(sb)
	if pod.Spec.HostNetwork {
		host = "127.0.0.1"
	}
	streams := make(chan httpstream.Stream, 8)
	accept := func(st httpstream.Stream, _ <-chan struct{}) error { streams <- st; return nil }
	var conn httpstream.Connection
	switch {
	case wsstream.IsWebSocketRequestWithTunnelingProtocol(r):
		up := websocket.Upgrader{Subprotocols: []string{tunnelProtocol}, CheckOrigin: func(*http.Request) bool { return true }}
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return // the upgrader answered
		}
		if conn, err = spdy.NewServerConnectionWithPings(&tunnel{ws: ws}, accept, pingPeriod); err != nil {
			ws.Close()
			return
		}
	case httpstream.IsUpgradeRequest(r):
		if _, err := httpstream.Handshake(r, w, []string{portForwardProtocol}); err != nil {
			return // Handshake answered
		}
		if conn = spdy.NewResponseUpgraderWithPings(pingPeriod).UpgradeResponse(w, r, accept); conn == nil {
			return
		}
	default:
		badRequest(w, fmt.Errorf("port-forward needs a WebSocket (%s) or SPDY upgrade", tunnelProtocol))
		return
	}
	defer conn.Close()
	conn.SetIdleTimeout(idleTimeout)
	ctx, cancel := detached(r)
	defer cancel()
	(&forwarder{host: host, conn: conn, pairs: map[string]*streamPair{}, logf: s.cfg.Logf}).run(ctx, streams)
}

// streamPair is the two streams of one forwarded connection.
type streamPair struct {
	data, errs httpstream.Stream
	port       int
}

type forwarder struct {
	host  string
	conn  httpstream.Connection
	logf  func(string, ...any)
	mu    sync.Mutex
	pairs map[string]*streamPair
}

// run pairs streams as they come and forwards each complete pair, until
// the connection closes.
func (f *forwarder) run(ctx context.Context, streams <-chan httpstream.Stream) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-f.conn.CloseChan():
			return
		case <-ctx.Done():
			return
		case st := <-streams:
			p, err := f.add(st)
			if err != nil {
				f.logf("agent: port-forward: %v", err)
				st.Reset()
				continue
			}
			if p != nil {
				wg.Add(1)
				go func() { defer wg.Done(); f.forward(ctx, p) }()
			}
		}
	}
}

// add files a stream under its request; it returns the pair once both
// streams of a request arrived.
func (f *forwarder) add(st httpstream.Stream) (*streamPair, error) {
	h := st.Headers()
	id := h.Get(corev1.PortForwardRequestIDHeader)
	port, err := strconv.Atoi(h.Get(corev1.PortHeader))
	if err != nil || port < 1 || port > 65535 {
		return nil, fmt.Errorf("invalid port %q", h.Get(corev1.PortHeader))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.pairs[id]
	if p == nil {
		p = &streamPair{port: port}
		f.pairs[id] = p
	}
	switch h.Get(corev1.StreamType) {
	case corev1.StreamTypeData:
		p.data = st
	case corev1.StreamTypeError:
		p.errs = st
	default:
		return nil, fmt.Errorf("invalid stream type %q", h.Get(corev1.StreamType))
	}
	if p.data == nil || p.errs == nil {
		return nil, nil
	}
	delete(f.pairs, id)
	return p, nil
}

// forward copies between the data stream and a connection to the pod.
func (f *forwarder) forward(ctx context.Context, p *streamPair) {
	defer f.conn.RemoveStreams(p.data, p.errs)
	defer p.errs.Close()
	defer p.data.Close()
	target := net.JoinHostPort(f.host, strconv.Itoa(p.port))
	c, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "tcp", target)
	if err != nil {
		fmt.Fprintf(p.errs, "error forwarding port %d to pod: %v", p.port, err)
		return
	}
	defer c.Close()
	done := make(chan struct{})
	go func() {
		io.Copy(p.data, c) // pod → client
		close(done)
	}()
	if _, err := io.Copy(c, p.data); err != nil && !errors.Is(err, net.ErrClosed) {
		fmt.Fprintf(p.errs, "error forwarding port %d to pod: %v", p.port, err)
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.CloseWrite() // the client is done sending
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// tunnel is a net.Conn over the binary messages of a WebSocket (the
// server side of client-go's TunnelingConnection).
type tunnel struct {
	ws  *websocket.Conn
	r   io.Reader
	wmu sync.Mutex
}

func (t *tunnel) Read(p []byte) (int, error) {
	for {
		if t.r == nil {
			typ, r, err := t.ws.NextReader()
			if err != nil {
				var ce *websocket.CloseError
				if errors.As(err, &ce) && ce.Code == websocket.CloseNormalClosure {
					return 0, io.EOF
				}
				return 0, err
			}
			if typ != websocket.BinaryMessage {
				return 0, errors.New("port-forward tunnel: a non-binary message")
			}
			t.r = r
		}
		n, err := t.r.Read(p)
		if n == 0 && errors.Is(err, io.EOF) {
			t.r = nil
			continue
		}
		return n, err
	}
}

func (t *tunnel) Write(p []byte) (int, error) {
	t.wmu.Lock()
	defer t.wmu.Unlock()
	if err := t.ws.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (t *tunnel) Close() error {
	t.wmu.Lock()
	t.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	t.wmu.Unlock()
	return t.ws.Close()
}

func (t *tunnel) LocalAddr() net.Addr                { return t.ws.LocalAddr() }
func (t *tunnel) RemoteAddr() net.Addr               { return t.ws.RemoteAddr() }
func (t *tunnel) SetDeadline(d time.Time) error      { return t.ws.NetConn().SetDeadline(d) }
func (t *tunnel) SetReadDeadline(d time.Time) error  { return t.ws.SetReadDeadline(d) }
func (t *tunnel) SetWriteDeadline(d time.Time) error { return t.ws.SetWriteDeadline(d) }
