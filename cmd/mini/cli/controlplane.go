package cli

import (
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/minicluster/mini/control/api"
	"github.com/minicluster/mini/control/controllers"
	"github.com/minicluster/mini/control/dns"
	"github.com/minicluster/mini/control/plane"
	"github.com/minicluster/mini/control/scheduler"
)

func newControlPlaneCmd(st streams) *cobra.Command {
	var (
		cfg  plane.Config
		opts controlOptions
	)
	cmd := &cobra.Command{
		Use:   "control-plane",
		Short: "Run the control plane (API server, store, controllers, scheduler, DNS)",
		Long: `Run mini's control plane as a plain process. It serves HTTPS on --listen with a
CA and serving certificate generated on first start and kept in --data-dir, and
writes an admin kubeconfig to DATA-DIR/kubeconfig.yaml once ready. Restarting on
the same directory keeps every object and the same credentials.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfg.DataDir == "" {
				return usageError("--data-dir is required")
			}
			limit, err := plane.MemoryLimit(opts.memoryLimit, os.Getenv("GOMEMLIMIT"))
			if err != nil {
				return usageError("%v", err)
			}
			cfg.MemoryLimit = limit
			cfg.Version = Version
			cfg.Logger = log.New(st.errOut, "", log.LstdFlags|log.Lmicroseconds)
			cfg.Components = controlComponents(&cfg, opts)
			p, err := plane.Start(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			cfg.Logger.Printf("control plane serving on %s; kubeconfig: %s", p.URL, filepath.Join(cfg.DataDir, plane.KubeconfigFile))
			return p.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data-dir", "", "directory for the store, credentials and kubeconfig (required)")
	f.StringVar(&cfg.Listen, "listen", "127.0.0.1:6443", "address to serve HTTPS on")
	f.StringSliceVar(&cfg.SANs, "tls-san", nil, "extra DNS names or IPs for the serving certificate")
	f.StringVar(&cfg.ServerURL, "server-url", "", "API server URL written into the kubeconfig (default https://LISTEN)")
	f.StringVar(&opts.dns.Listen, "dns-listen", "", "UDP and TCP address for the cluster DNS, e.g. :53 (empty: no cluster DNS)")
	f.StringVar(&opts.dns.Advertise, "dns-advertise", "", "IP the kube-dns Service (10.96.0.10) sends pods to: this container's IP on the cluster network")
	f.StringSliceVar(&opts.dns.Upstream, "dns-upstream", nil, "resolvers (ip or ip:port) for names outside the cluster (default: /etc/resolv.conf)")
	f.StringVar(&opts.advertise, "advertise-address", "", "IP clients inside the cluster reach the API server at (endpoints of the kubernetes Service)")
	f.DurationVar(&opts.evictAfter, "pod-eviction-timeout", controllers.DefaultPodEvictionTimeout, "how long pods stay on an unreachable node (one whose lease ran out) before they are recreated elsewhere")
	f.IntVar(&cfg.MaxInFlight, "max-inflight", api.DefaultMaxInFlight, "API requests served at once, shared fairly among users (watches, logs and exec do not count; negative: no bound)")
	f.StringVar(&opts.memoryLimit, "memory-limit", "", "Go soft memory limit, e.g. 700Mi, or none (default: GOMEMLIMIT if set, else 700Mi): the garbage collector works harder near it")
	return cmd
}

// controlOptions holds the control-plane flags that configure in-process
// components; each command has its own.
type controlOptions struct {
	advertise   string
	evictAfter  time.Duration
	memoryLimit string
	dns         dns.Options // --dns-*: the DNS runs when dns.Listen is set
}

// controlComponents returns what runs in process next to the API server:
// the controllers, the scheduler and (when --dns-listen is set) the DNS.
func controlComponents(cfg *plane.Config, opts controlOptions) []plane.Component {
	pods := controllers.NewPodSharer() // one pod watch and cache for both
	comps := []plane.Component{
		controllers.New(controllers.Options{
			Logger:             cfg.Logger,
			APIServerAddress:   opts.advertise,
			PodEvictionTimeout: opts.evictAfter,
			Pods:               pods,
		}),
		scheduler.New(scheduler.Options{Logger: cfg.Logger, Pods: pods}),
	}
	if opts.dns.Listen != "" {
		o := opts.dns
		o.Logger = cfg.Logger
		comps = append(comps, dns.New(o))
	}
	return comps
}
