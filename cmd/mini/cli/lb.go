package cli

import (
	"log"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/minicluster/mini/control/client"
	"github.com/minicluster/mini/loadbalancer"
)

func init() { extraCommands = append(extraCommands, newLBCmd) }

func newLBCmd(st streams) *cobra.Command {
	var (
		cfg   loadbalancer.Config
		ports []string
	)
	cmd := &cobra.Command{
		Use:   "lb",
		Short: "Run a cluster's L4 load balancer (API server and NodePorts)",
		Long: `Run mini's L4 load balancer, as the cluster's lb container does. It forwards
--api-listen to --api-backend, and each --port LISTEN:NODEPORT[/udp] to that
NodePort on every Ready node's InternalIP, following the Nodes through the API
(MINI_SERVER, MINI_TOKEN and MINI_CA, the PEM CA, from the environment).

TCP backends are health-checked by connecting every --health-interval; two
failures eject a backend, one success brings it back, and a failed connect is
retried on another backend. The backend with the fewest open connections is
picked, ties round-robin. SIGTERM stops accepting and gives open connections
--shutdown-grace to finish.`,
		Example: `  MINI_SERVER=https://mini-demo-control:6443 MINI_TOKEN=... MINI_CA="$(cat ca.crt)" \
    mini lb --api-backend mini-demo-control:6443 --api-listen :6443 --port 8080:30080 --port 5353:30053/udp`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, p := range ports {
				m, err := loadbalancer.ParsePortMapping(p)
				if err != nil {
					return usageError("--port: %v", err)
				}
				cfg.Ports = append(cfg.Ports, m)
			}
			if (cfg.APIListen == "") != (cfg.APIBackend == "") {
				return usageError("--api-listen and --api-backend go together")
			}
			if cfg.APIListen == "" && len(cfg.Ports) == 0 {
				return usageError("nothing to forward: give --api-backend/--api-listen or --port")
			}
			if len(cfg.Ports) > 0 {
				c, err := lbClient()
				if err != nil {
					return err
				}
				cfg.Client = c
			}
			cfg.Logger = log.New(st.errOut, "", log.LstdFlags|log.Lmicroseconds)
			lb, err := loadbalancer.New(cfg)
			if err != nil {
				return err
			}
			return lb.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.APIBackend, "api-backend", "", "API server address HOST:PORT to forward --api-listen to")
	f.StringVar(&cfg.APIListen, "api-listen", "", "address to accept API connections on, e.g. :6443")
	f.StringArrayVar(&ports, "port", nil, "LISTEN:NODEPORT[/udp] to forward to NODEPORT on every Ready node (repeatable)")
	f.DurationVar(&cfg.HealthInterval, "health-interval", 250*time.Millisecond, "time between TCP health checks of a backend")
	f.DurationVar(&cfg.HealthTimeout, "health-timeout", 300*time.Millisecond, "timeout of one health-check connect")
	f.DurationVar(&cfg.DialTimeout, "dial-timeout", time.Second, "timeout of one backend connect before trying another backend")
	f.DurationVar(&cfg.TCPIdleTimeout, "tcp-idle-timeout", time.Hour, "close a TCP connection after this long without a byte either way")
	f.DurationVar(&cfg.UDPIdleTimeout, "udp-idle-timeout", time.Minute, "forget a UDP flow after this long without a datagram either way")
	f.DurationVar(&cfg.ShutdownGrace, "shutdown-grace", 5*time.Second, "time open connections get to finish after SIGTERM")
	return cmd
}

// lbClient builds the API client from MINI_SERVER, MINI_TOKEN and MINI_CA.
func lbClient() (*client.Client, error) {
	server, token, ca := os.Getenv("MINI_SERVER"), os.Getenv("MINI_TOKEN"), os.Getenv("MINI_CA")
	switch {
	case server == "":
		return nil, usageError("MINI_SERVER (the API server URL) must be set to follow the Nodes behind --port")
	case token == "":
		return nil, usageError("MINI_TOKEN must be set to follow the Nodes behind --port")
	case ca == "":
		return nil, usageError("MINI_CA (PEM CA certificate) must be set to follow the Nodes behind --port")
	}
	c, err := client.New(client.Config{Server: server, Token: token, CAData: []byte(ca), UserAgent: "mini-lb"})
	if err != nil {
		return nil, usageError("API client from MINI_SERVER/MINI_CA: %v", err)
	}
	return c, nil
}
