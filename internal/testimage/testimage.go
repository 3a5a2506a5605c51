// Package testimage builds the small images mini's tests run as pods: each
// is FROM scratch around one Go program kept in progs/<name>/main.go
// (echo, crash, sleep), compiled statically and sent to the Docker daemon as
// a tar build context. An image is tagged mini-test-<name>:<hash of its
// source> and built only when that tag is missing, so repeated test runs
// reuse it.
package testimage

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/client"
	"github.com/docker/docker/errdefs"
)

// Names of the test programs.
const (
	Echo  = "echo"
	Crash = "crash"
	Sleep = "sleep"
)

// RepoRoot returns the root of mini's source tree (where go.mod is), found
// with `go env GOMOD` from the working directory.
func RepoRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside mini's module: go env GOMOD is empty")
	}
	return filepath.Dir(mod), nil
}

// Tag returns the tag the image of program name gets: mini-test-<name>:<hash
// of progs/<name>/main.go>.
func Tag(name string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	src, err := os.ReadFile(filepath.Join(root, "internal", "testimage", "progs", name, "main.go"))
	if err != nil {
		return "", fmt.Errorf("test program %q: %w", name, err)
	}
	sum := sha256.Sum256(src)
	return "mini-test-" + name + ":" + hex.EncodeToString(sum[:6]), nil
}

var buildMu sync.Mutex // one build of a tag at a time in this process

// Build makes sure the image of test program name exists in the daemon and
// returns its tag.
func Build(ctx context.Context, dc *client.Client, name string) (string, error) {
	tag, err := Tag(name)
	if err != nil {
		return "", err
	}
	buildMu.Lock()
	defer buildMu.Unlock()
	if _, err := dc.ImageInspect(ctx, tag); err == nil {
		return tag, nil
	} else if !errdefs.IsNotFound(err) {
		return "", fmt.Errorf("inspect %s: %w", tag, err)
	}
	root, _ := RepoRoot()
	dir, err := os.MkdirTemp("", "mini-testimage-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, name)
	if err := GoBuild(ctx, root, "./internal/testimage/progs/"+name, bin); err != nil {
		return "", err
	}
	dockerfile := fmt.Sprintf("FROM scratch\nCOPY %s /%s\nENTRYPOINT [\"/%s\"]\nLABEL mini.test.image=%s\n", name, name, name, name)
	buildCtx, err := tarOf(map[string]string{"Dockerfile": "", name: bin}, dockerfile)
	if err != nil {
		return "", err
	}
	return tag, BuildContext(ctx, dc, buildCtx, tag)
}

// BuildContext builds the image described by a tar build context (with a
// Dockerfile at its root) and tags it.
func BuildContext(ctx context.Context, dc *client.Client, buildCtx io.Reader, tag string) error {
	resp, err := dc.ImageBuild(ctx, buildCtx, build.ImageBuildOptions{Tags: []string{tag}, Remove: true, ForceRemove: true})
	if err != nil {
		return fmt.Errorf("build %s: %w", tag, err)
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	var out strings.Builder
	for {
		var msg struct {
			Stream string `json:"stream"`
			Error  string `json:"error"`
		}
		if err := dec.Decode(&msg); err == io.EOF {
			break
		} else if err != nil {
			return fmt.Errorf("build %s: reading the daemon's answer: %w", tag, err)
		}
		if msg.Error != "" {
			return fmt.Errorf("build %s: %s (output: %s)", tag, msg.Error, out.String())
		}
		out.WriteString(msg.Stream)
	}
	return nil
}

// GoBuild compiles package pkg of the module at root into a static binary
// at out.
func GoBuild(ctx context.Context, root, pkg, out string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w: %s", pkg, err, b)
	}
	return nil
}

// MiniBinary builds mini itself (./cmd/mini) into dir and returns its path;
// tests use it as the pause image's binary and as the CLI.
func MiniBinary(ctx context.Context, dir string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "mini")
	return out, GoBuild(ctx, root, "./cmd/mini", out)
}

// tarOf makes a tar stream of files (name in the archive → path on disk);
// the entry named Dockerfile gets the content dockerfile.
func tarOf(files map[string]string, dockerfile string) (io.Reader, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, path := range files {
		data := []byte(dockerfile)
		mode := int64(0o644)
		if name != "Dockerfile" {
			var err error
			if data, err = os.ReadFile(path); err != nil {
				return nil, err
			}
			mode = 0o755
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(data)), ModTime: time.Unix(0, 0)}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, err
		}
	}
	return &buf, tw.Close()
}
