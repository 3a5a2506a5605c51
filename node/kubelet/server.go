package kubelet

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/minicluster/mini/node/agentserver"
)

// ServingCertAnnotation holds the SHA-256 of the agent server's
// certificate (hex) on the Node: the API server pins it when it proxies to
// the agent (control/plane reads the same annotation).
const ServingCertAnnotation = "node.mini.dev/serving-cert-sha256"

// agentServer is the node agent's HTTPS server.
type agentServer struct {
	ln  net.Listener
	srv *http.Server
}

// startServer listens for the agent server and publishes its port and
// certificate on the Node.
func (k *Kubelet) startServer(ctx context.Context) (*agentServer, error) {
	cert, fp, err := servingCert(k.cfg.StateDir, k.cfg.NodeName, k.cfg.NodeIP)
	if err != nil {
		return nil, fmt.Errorf("kubelet: agent server certificate: %w", err)
	}
	ln, err := net.Listen("tcp", k.cfg.ListenAddr)
	if err != nil {
		return nil, fmt.Errorf("kubelet: agent server: %w", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := k.publishServer(ctx, port, fp); err != nil {
		ln.Close()
		return nil, err
	}
	h := agentserver.New(agentserver.Config{Runtime: k.rt, Pods: k, Token: k.c.Config().Token, Logf: k.log.Printf})
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ErrorLog:  log.New(discard{}, "", 0)}
	return &agentServer{ln: ln, srv: srv}, nil
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// serve serves until ctx ends.
func (s *agentServer) serve(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { s.srv.Close() })
	defer stop()
	err := s.srv.ServeTLS(s.ln, "", "")
	if errors.Is(err, http.ErrServerClosed) || ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("agent server: %w", err)
}

// publishServer writes the agent's port (daemonEndpoints) and certificate
// fingerprint on the Node.
func (k *Kubelet) publishServer(ctx context.Context, port int, fingerprint string) error {
	meta, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{ServingCertAnnotation: fingerprint}}})
	if err := k.c.Patch(ctx, &corev1.Node{}, "", k.cfg.NodeName, types.MergePatchType, meta, ""); err != nil {
		return fmt.Errorf("kubelet: publishing the agent certificate on node %s: %w", k.cfg.NodeName, err)
	}
	st, _ := json.Marshal(map[string]any{"status": map[string]any{"daemonEndpoints": map[string]any{"kubeletEndpoint": map[string]int{"Port": port}}}})
	if err := k.c.Patch(ctx, &corev1.Node{}, "", k.cfg.NodeName, types.MergePatchType, st, "status"); err != nil {
		return fmt.Errorf("kubelet: publishing the agent port on node %s: %w", k.cfg.NodeName, err)
	}
	return nil
}

// servingCert loads the agent's self-signed serving certificate from the
// state directory, creating it on first start, and returns it with its
// SHA-256 fingerprint.
func servingCert(dir, node, ip string) (tls.Certificate, string, error) {
	certPath, keyPath := filepath.Join(dir, "agent.crt"), filepath.Join(dir, "agent.key")
	cert, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		if cert, err = newServingCert(certPath, keyPath, node, ip); err != nil {
			return tls.Certificate{}, "", err
		}
	}
	sum := sha256.Sum256(cert.Certificate[0])
	return cert, hex.EncodeToString(sum[:]), nil
}

func newServingCert(certPath, keyPath, node, ip string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "mini-node-agent:" + node},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(10, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{node, "localhost"},
		IPAddresses:  []net.IP{net.ParseIP(ip), net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return tls.Certificate{}, err
	}
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return tls.Certificate{}, err
	}
	return tls.LoadX509KeyPair(certPath, keyPath)
}
