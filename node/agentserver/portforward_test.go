package agentserver_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"

	"github.com/minicluster/mini/node/kubelet/kubelettest"
)

// forward runs client-go's port forwarder (kubectl port-forward's) to a
// pod's port 8080 through the API server and GETs / through it.
func forward(t *testing.T, h *kubelettest.Harness, pod string, websocket bool) string {
	t.Helper()
	cfg := restConfig(h)
	u, _ := url.Parse(cfg.Host + "/api/v1/namespaces/default/pods/" + pod + "/portforward")
	// kubectl 1.32 tunnels SPDY through a WebSocket, and falls back to a
	// plain SPDY upgrade
	rt, up, err := spdy.RoundTripperFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	d := spdy.NewDialer(up, &http.Client{Transport: rt}, http.MethodPost, u)
	if websocket {
		if d, err = portforward.NewSPDYOverWebsocketDialer(u, cfg); err != nil {
			t.Fatal(err)
		}
	}
	stop, ready := make(chan struct{}), make(chan struct{})
	defer close(stop)
	var out, errOut strings.Builder
	pf, err := portforward.NewOnAddresses(d, []string{"127.0.0.1"}, []string{"0:8080"}, stop, ready, &out, &errOut)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- pf.ForwardPorts() }()
	select {
	case <-ready:
	case err := <-errc:
		t.Fatalf("port-forward (websocket %v): %v", websocket, err)
	case <-time.After(20 * time.Second):
		t.Fatalf("port-forward (websocket %v) not ready within 20s: %s", websocket, errOut.String())
	}
	ports, err := pf.GetPorts()
	if err != nil || len(ports) != 1 {
		t.Fatalf("forwarded ports %v: %v", ports, err)
	}
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/through-the-tunnel", ports[0].Local))
	if err != nil {
		t.Fatalf("GET through the forwarded port: %v (%s)", err, errOut.String())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestPortForwardThroughAPIServer(t *testing.T) {
	h := kubelettest.Start(t, kubelettest.Options{})
	h.CreatePod(echoPod(h, "fwd"))
	h.WaitPod("fwd", "Running", 90*time.Second, kubelettest.Running)
	for _, ws := range []bool{true, false} {
		if got := forward(t, h, "fwd", ws); !strings.Contains(got, "pod=fwd") {
			t.Errorf("websocket %v: GET through the forwarded port = %q, want the pod's answer", ws, got)
		}
	}
}
