// Command podsbench is the measuring half of scripts/bench-pods. It runs on
// the host, against a running mini cluster:
//
//	podsbench image
//	    build the echo test image (internal/testimage) if missing; print its tag
//	podsbench deploy -context C -image TAG [-replicas 30] [-name bench] [-probe] [-v]
//	    watch the Deployment's pods, create it, and time on this client, per
//	    pod, from the watch first showing the pod to it showing the pod Ready
//	    (with the scheduled and running steps in between); then delete the
//	    Deployment and wait until its pods are gone.
//
// deploy prints one line of key=value figures in seconds (total: create →
// all Ready; p50/p99 of the per-pod times; where the time went) that the
// script collects across runs; -v adds each pod's times on stderr.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	dockerclient "github.com/docker/docker/client"

	"github.com/minicluster/mini/internal/testimage"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: podsbench image | podsbench deploy -context C -image TAG [-replicas N] [-name NAME] [-probe]")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var err error
	switch os.Args[1] {
	case "image":
		err = buildImage(ctx)
	case "deploy":
		err = deployCmd(ctx, os.Args[2:])
	default:
		err = fmt.Errorf("unknown subcommand %q (want image or deploy)", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "podsbench:", err)
		os.Exit(1)
	}
}

func buildImage(ctx context.Context) error {
	dc, err := dockerclient.NewClientWithOpts(dockerclient.FromEnv, dockerclient.WithAPIVersionNegotiation())
	if err != nil {
		return fmt.Errorf("docker client: %w", err)
	}
	defer dc.Close()
	tag, err := testimage.Build(ctx, dc, testimage.Echo)
	if err != nil {
		return err
	}
	fmt.Println(tag)
	return nil
}

func deployCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("deploy", flag.ContinueOnError)
	o := deployOptions{}
	fs.StringVar(&o.kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig file")
	fs.StringVar(&o.context, "context", "", "kubeconfig context (required)")
	fs.StringVar(&o.image, "image", "", "image of the pods (required)")
	fs.StringVar(&o.name, "name", "bench", "Deployment name (and its pods' app label)")
	fs.IntVar(&o.replicas, "replicas", 30, "replicas")
	fs.BoolVar(&o.probe, "probe", false, "give the pods an HTTP readiness probe (GET /healthz, default periodSeconds: 10)")
	perPod := fs.Bool("v", false, "print each pod's times (unix seconds) on stderr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.context == "" || o.image == "" || o.replicas < 1 {
		return errors.New("deploy needs -context, -image and -replicas >= 1")
	}
	if *perPod {
		o.perPod = os.Stderr
	}
	r, err := deploy(ctx, o)
	if err != nil {
		return err
	}
	fmt.Println(r)
	return nil
}
