package e2e

import (
	"context"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	dockerclient "github.com/docker/docker/client"

	"github.com/minicluster/mini/internal/testimage"
)

// Test images are built once per run (and cached by tag across runs).
var (
	imageMu sync.Mutex
	images  = map[string]string{}
)

// testImage returns the tag of test program name's image (internal/testimage:
// FROM scratch around one Go program), building it in the host's Docker when
// missing. The image is kept: its tag is a hash of its source, so later runs
// reuse it.
func testImage(t testing.TB, name string) string {
	t.Helper()
	imageMu.Lock()
	defer imageMu.Unlock()
	if tag, ok := images[name]; ok {
		return tag
	}
	dc, err := dockerclient.NewClientWithOpts(dockerclient.FromEnv, dockerclient.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatalf("docker client: %v", err)
	}
	defer dc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	tag, err := testimage.Build(ctx, dc, name)
	if err != nil {
		t.Fatalf("building test image %s: %v", name, err)
	}
	images[name] = tag
	return tag
}

// kubectlApply pipes a manifest into stock `kubectl apply -f -` in context
// ctx and fails the test unless it exits 0.
func kubectlApply(t testing.TB, ctx, manifest string) string {
	t.Helper()
	cmdCtx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cmdCtx, kubectlBin, "--context", ctx, "apply", "-f", "-")
	cmd.Stdin = strings.NewReader(manifest)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl apply -f - (context %s): %v\n%s\nmanifest:\n%s", ctx, err, out, manifest)
	}
	return string(out)
}
