// Command mini creates Kubernetes-compatible clusters out of Docker
// containers. The same binary is the CLI, the control plane, the node agent
// and the load balancer; see the cli package.
package main

import (
	"os"

	"github.com/minicluster/mini/cmd/mini/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:])) }
