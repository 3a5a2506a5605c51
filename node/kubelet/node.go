package kubelet

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	dockerclient "github.com/docker/docker/client"

	"github.com/minicluster/mini/control/client"
	"github.com/minicluster/mini/node/heartbeat"
)

// Defaults of a mini Docker node (see RunNode).
const (
	// NodeStateDir is on the node's /var/lib/docker volume, so emptyDir
	// volumes and pod files survive a node container's stop and start.
	NodeStateDir = "/var/lib/docker/mini-kubelet"
	// NodeNetwork is the inner dockerd's network for pods (the node's pod
	// CIDR).
	NodeNetwork = "mini-pods"
)

// NodeConfig is what the node agent hands the kubelet.
type NodeConfig struct {
	Client       *client.Client // with the node token
	NodeName     string
	NodeIP       string
	DockerSocket string // the inner dockerd's unix socket
	StateDir     string // default NodeStateDir
	ListenAddr   string // the agent server's address (default :10250)
	Logger       *log.Logger
	// PauseBinary is the mini binary for the pause image (default: this
	// executable).
	PauseBinary string
}

// RunNode runs the kubelet of a mini Docker node until ctx ends: it waits
// for the control plane to assign the node its pod CIDR, connects to the
// inner dockerd, and runs the kubelet with its agent server on :10250.
// SIGHUP restarts the kubelet alone; the pods keep running and the new
// kubelet adopts them (this is how a node's agent is restarted without its
// pods).
func RunNode(ctx context.Context, nc NodeConfig) error {
	if nc.StateDir == "" {
		nc.StateDir = NodeStateDir
	}
	if nc.Logger == nil {
		nc.Logger = log.New(os.Stderr, "kubelet: ", log.LstdFlags|log.Lmicroseconds)
	}
	cidr, err := heartbeat.WaitPodCIDR(ctx, nc.Client, nc.NodeName, 2*time.Minute)
	if err != nil {
		return err
	}
	dc, err := dockerclient.NewClientWithOpts(dockerclient.WithHost("unix://"+nc.DockerSocket), dockerclient.WithAPIVersionNegotiation())
	if err != nil {
		return fmt.Errorf("docker client for %s: %w", nc.DockerSocket, err)
	}
	defer dc.Close()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		kctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			done <- Run(kctx, Config{Client: nc.Client, NodeName: nc.NodeName, NodeIP: nc.NodeIP, PodCIDR: cidr, Docker: dc,
				Network: NodeNetwork, StateDir: nc.StateDir, Logger: nc.Logger, ListenAddr: nc.ListenAddr, PauseBinary: nc.PauseBinary})
		}()
		select {
		case err := <-done:
			stop()
			if ctx.Err() != nil {
				return nil
			}
			return err
		case <-hup:
			nc.Logger.Printf("kubelet: SIGHUP: restarting the kubelet (pods keep running)")
			stop()
			if err := <-done; err != nil {
				return err
			}
		}
	}
}
