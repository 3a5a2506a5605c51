// Package e2e is mini's end-to-end suite: it builds the mini binary once,
// runs it as a user would against the real Docker engine, and checks the
// results with Docker and stock kubectl. Every test uses a KUBECONFIG in a
// temporary directory, never the user's, and removes its clusters.
package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Set by TestMain.
var (
	miniBin    string // the mini binary built for this run
	kubectlBin string // scripts/kubectl if present, else kubectl on PATH
	repoRoot   string
	kubeconfig string // KUBECONFIG of every command the suite runs
	tmpDir     string // removed after the run
)

func TestMain(m *testing.M) {
	code, err := setup()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: setup:", err)
		os.Exit(1)
	}
	if code >= 0 {
		os.Exit(code)
	}
	code = m.Run()
	os.RemoveAll(tmpDir)
	os.Exit(code)
}

// setup builds mini, finds kubectl, points KUBECONFIG at a temporary file
// and makes sure a node base image exists. code >= 0 means exit at once.
func setup() (code int, err error) {
	wd, err := os.Getwd()
	if err != nil {
		return 1, err
	}
	repoRoot = filepath.Dir(wd)
	tmp, err := os.MkdirTemp("", "mini-e2e-")
	if err != nil {
		return 1, err
	}
	tmpDir = tmp
	miniBin = filepath.Join(tmp, "mini")
	start := time.Now()
	build := exec.Command("go", "build", "-o", miniBin, "./cmd/mini")
	build.Dir = repoRoot
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return 1, fmt.Errorf("go build ./cmd/mini: %v\n%s", err, out)
	}
	fmt.Fprintf(os.Stderr, "e2e: built %s in %.1fs\n", miniBin, time.Since(start).Seconds())
	kubectlBin = "kubectl"
	if p := filepath.Join(repoRoot, "scripts", "kubectl"); fileExists(p) {
		out, err := exec.Command(p).Output() // prints the path of a kubectl
		if err != nil {
			return 1, fmt.Errorf("scripts/kubectl: %w", err)
		}
		kubectlBin = strings.TrimSpace(string(out))
	}
	kubeconfig = filepath.Join(tmp, "kubeconfig")
	os.Setenv("KUBECONFIG", kubeconfig)
	if err := exec.Command("docker", "info").Run(); err != nil {
		return 1, fmt.Errorf("the Docker engine does not answer `docker info` (%v); the end-to-end suite needs it", err)
	}
	if err := ensureNodeBase(); err != nil {
		return 1, err
	}
	return -1, nil
}

// ensureNodeBase makes sure a node base image exists: a docker:*-dind
// image, or else the offline one, built by scripts/build-node-base (and
// selected through MINI_NODE_BASE_IMAGE) when absent.
func ensureNodeBase() error {
	if os.Getenv("MINI_NODE_BASE_IMAGE") != "" {
		return nil
	}
	out, _ := exec.Command("docker", "images", "--format", "{{.Repository}}:{{.Tag}}", "docker").Output()
	for _, ref := range strings.Fields(string(out)) {
		if strings.HasSuffix(ref, "-dind") {
			return nil
		}
	}
	const offline = "mini-node-base:bookworm"
	if exec.Command("docker", "image", "inspect", offline).Run() != nil {
		fmt.Fprintf(os.Stderr, "e2e: no docker:*-dind image; building %s with scripts/build-node-base\n", offline)
		cmd := exec.Command(filepath.Join(repoRoot, "scripts", "build-node-base"))
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("scripts/build-node-base: %w", err)
		}
	}
	return os.Setenv("MINI_NODE_BASE_IMAGE", offline)
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
