package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/minicluster/mini/cluster"
)

func init() { extraCommands = append(extraCommands, newConfigCmd) }

func newConfigCmd(st streams) *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Cluster config files", Args: cobra.NoArgs}
	cmd.AddCommand(&cobra.Command{
		Use:   "init [NAME]",
		Short: "Print a commented example cluster config (mini config init > cluster.yaml)",
		Long: `Print a commented example cluster config file, for
mini cluster create --config FILE. Every field is explained; the ones
commented out show their syntax and default.`,
		Example: `  mini config init demo > cluster.yaml
  mini cluster create --config cluster.yaml`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := "demo"
			if len(args) == 1 {
				if err := cluster.ValidateName(args[0]); err != nil {
					return usageError("%v", err)
				}
				name = args[0]
			}
			_, err := fmt.Fprint(st.out, exampleConfig(name))
			return err
		},
	})
	return cmd
}

// exampleConfig is the output of mini config init.
func exampleConfig(name string) string {
	r := strings.NewReplacer("NAME", name, "API_VERSION", cluster.ConfigAPIVersion, "KIND", cluster.ConfigKind,
		"DEFAULT_BASE", cluster.DefaultNodeBase, "OFFLINE_BASE", cluster.OfflineNodeBase, "BASE_ENV", cluster.NodeBaseEnv,
		"MAX_NODES", fmt.Sprint(cluster.MaxNodes))
	return r.Replace(`# A mini cluster: mini cluster create --config cluster.yaml
# A flag given on the command line wins over the field here; a list flag
# (--port, --node-label, --node-taint, --load-image) replaces the whole list.
apiVersion: API_VERSION
kind: KIND

# Containers are named mini-NAME-*, the kubectl context mini-NAME.
# (mini cluster create OTHER --config FILE uses OTHER instead.)
name: NAME

# How many nodes (1 to MAX_NODES): mini-NAME-node-0, mini-NAME-node-1, ...
nodes: 2

# Host address of the API server, [IP:]PORT. Unset: 127.0.0.1 and a free port.
# apiPort: 127.0.0.1:6550

# Host ports the load balancer publishes, each forwarded to a NodePort
# (30000-32767) on every Ready node: [IP:]HOSTPORT:NODEPORT[/udp]@loadbalancer.
# The IP defaults to 127.0.0.1; 0.0.0.0 publishes on every interface.
ports:
  - 8080:30080@loadbalancer

# The Docker-in-Docker image nodes are built on. Unset: $BASE_ENV, else
# DEFAULT_BASE (pulled once), else the offline OFFLINE_BASE.
# nodeBaseImage: DEFAULT_BASE

# Labels and taints of every Node. Taints in kubectl's form
# KEY[=VALUE]:EFFECT, EFFECT one of NoSchedule, PreferNoSchedule, NoExecute.
nodeLabels:
  env: dev
nodeTaints: []
# nodeTaints: [dedicated=ci:NoSchedule]

# More labels and taints for single nodes, by index (mini-NAME-node-1 is 1).
nodeOverrides:
  - index: 1
    labels:
      disk: ssd
    taints:
      - disk=ssd:PreferNoSchedule

# Images copied from the host's Docker into every node (and into nodes added
# later) once the nodes are Ready: no registry needed.
images: []
# images: [myapp:dev, busybox:1.36]
`)
}

// configErr gives config file errors their exit code.
func configErr(err error) error { return withCode(ExitUsage, err) }
