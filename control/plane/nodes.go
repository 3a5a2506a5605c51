package plane

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/minicluster/mini/control/client"
)

// ServingCertAnnotation is where a node agent publishes the SHA-256 (hex)
// of its HTTPS serving certificate on its Node (node/kubelet writes it).
// Only holders of the node token can write Nodes, so pinning the published
// certificate authenticates the agent to the API server.
const ServingCertAnnotation = "node.mini.dev/serving-cert-sha256"

// DefaultAgentPort is the node agent's port when the Node does not say.
const DefaultAgentPort = 10250

// nodeDialer is the API server's way to its node agents (api.NodeDialer)
// for the pod subresources it proxies (log, exec, attach, portforward): it
// finds the Node's InternalIP and agent port (daemonEndpoints), speaks
// HTTPS pinned to the certificate the agent published, and presents the
// node token as a bearer token, which the agent checks.
type nodeDialer struct {
	p *Plane

	once sync.Once
	c    *client.Client

	mu         sync.Mutex
	transports map[string]*http.Transport // by certificate fingerprint
}

func newNodeDialer(p *Plane) *nodeDialer {
	return &nodeDialer{p: p, transports: map[string]*http.Transport{}}
}

// NodeTransport returns the agent's base URL and a transport to it.
func (d *nodeDialer) NodeTransport(ctx context.Context, name string) (string, http.RoundTripper, error) {
	d.once.Do(func() { d.c = d.p.AdminClient("node-dialer") })
	node := &corev1.Node{}
	if err := d.c.Get(ctx, "", name, node); err != nil {
		return "", nil, err
	}
	ip := nodeAddress(node)
	if ip == "" {
		return "", nil, fmt.Errorf("node %s reports no InternalIP", name)
	}
	port := int(node.Status.DaemonEndpoints.KubeletEndpoint.Port)
	if port == 0 {
		port = DefaultAgentPort
	}
	fp := node.Annotations[ServingCertAnnotation]
	if fp == "" {
		return "", nil, fmt.Errorf("node %s has not published its agent's certificate (annotation %s)", name, ServingCertAnnotation)
	}
	base := "https://" + net.JoinHostPort(ip, strconv.Itoa(port))
	return base, &bearer{token: d.p.Creds.Tokens.Node, rt: d.transport(fp)}, nil
}

func nodeAddress(n *corev1.Node) string {
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			return a.Address
		}
	}
	return ""
}

// transport returns the (shared) transport pinned to one certificate.
func (d *nodeDialer) transport(fingerprint string) *http.Transport {
	d.mu.Lock()
	defer d.mu.Unlock()
	if t, ok := d.transports[fingerprint]; ok {
		return t
	}
	t := &http.Transport{
		Proxy:       nil,
		DialContext: (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig: &tls.Config{
			MinVersion:         tls.VersionTLS12,
			InsecureSkipVerify: true, // verified by VerifyConnection: the pinned certificate
			VerifyConnection: func(cs tls.ConnectionState) error {
				if len(cs.PeerCertificates) == 0 {
					return errors.New("the node agent presented no certificate")
				}
				sum := sha256.Sum256(cs.PeerCertificates[0].Raw)
				if got := hex.EncodeToString(sum[:]); got != fingerprint {
					return fmt.Errorf("the node agent's certificate %s is not the one its Node published (%s)", got[:16], fingerprint[:min(16, len(fingerprint))])
				}
				return nil
			},
		},
		TLSHandshakeTimeout: 5 * time.Second,
		MaxIdleConnsPerHost: 8,
		IdleConnTimeout:     90 * time.Second,
	}
	d.transports[fingerprint] = t
	return t
}

// bearer adds the node token to requests to an agent.
type bearer struct {
	token string
	rt    http.RoundTripper
}

func (b *bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.rt.RoundTrip(r)
}
