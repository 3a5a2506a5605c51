// Command kubectl is stock kubectl built from k8s.io/kubectl, for tests
// that must drive mini's API server with the real client where no kubectl
// is installed. scripts/kubectl builds it into .cache/bin.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubectl/pkg/cmd"
)

func main() {
	os.Exit(cli.Run(cmd.NewDefaultKubectlCommand()))
}
