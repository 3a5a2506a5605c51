package cluster

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
	"github.com/docker/docker/errdefs"
	"github.com/docker/docker/pkg/stdcopy"
)

// Version is mini's version; the CLI sets it. It names images and labels.
var Version = "dev"

// Docker is the host's Docker engine client.
type Docker = client.Client

// DockerUnreachableError says the Docker engine could not be reached.
type DockerUnreachableError struct {
	Host string
	Err  error
}

func (e *DockerUnreachableError) Error() string {
	return fmt.Sprintf("Docker is not reachable at %s: %v\n%s", e.Host, e.Err, e.hint())
}

// hint says how to fix it.
func (e *DockerUnreachableError) hint() string {
	if contains(e.Err, "permission denied") {
		return "Your user may not use the Docker socket: add it to the docker group (sudo usermod -aG docker $USER, then log in again), or run mini as root."
	}
	fix := "Start the Docker engine (sudo systemctl start docker, or run dockerd; on macOS or Windows start Docker Desktop)"
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		return fix + ", or check that DOCKER_HOST=" + h + " names a running engine."
	}
	return fix + ", or set DOCKER_HOST to a running engine."
}

func (e *DockerUnreachableError) Unwrap() error { return e.Err }

// Connect returns a client for the engine named by the environment
// (DOCKER_HOST etc.), with the API version negotiated, after checking the
// engine answers.
func Connect(ctx context.Context, opts ...ConnectOption) (*Docker, error) {
	var cfg connectConfig
	for _, o := range opts {
		o(&cfg)
	}
	c, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err == nil && cfg.logf != nil {
		c, err = withCallLog(c, cfg.logf)
	}
	if err != nil {
		return nil, &DockerUnreachableError{Host: os.Getenv("DOCKER_HOST"), Err: err}
	}
	if err := ping(ctx, c); err != nil {
		c.Close()
		return nil, &DockerUnreachableError{Host: c.DaemonHost(), Err: err}
	}
	return c, nil
}

// mutate runs a Docker call that makes or removes something so that it
// completes even when ctx is cancelled (an interrupted create must know
// exactly what exists to roll it back); ctx is checked before the call.
func mutate(ctx context.Context, timeout time.Duration, f func(ctx context.Context) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	return f(mctx)
}

// isNotFound reports a Docker "no such object" error.
func isNotFound(err error) bool { return errdefs.IsNotFound(err) }

// tarFiles builds a tar archive of name → content (mode 0600 unless the
// name is in exec).
func tarFiles(files map[string][]byte, mode map[string]int64) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, data := range files {
		m := int64(0o600)
		if v, ok := mode[name]; ok {
			m = v
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: m, Size: int64(len(data)), ModTime: time.Now(), Typeflag: tar.TypeReg}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// readContainerFile reads one regular file out of a container (running or
// not) through the archive API.
func readContainerFile(ctx context.Context, d *Docker, ctr, path string) ([]byte, error) {
	rc, _, err := d.CopyFromContainer(ctx, ctr, path)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("%s:%s: not in the archive", ctr, path)
			}
			return nil, err
		}
		if h.Typeflag == tar.TypeReg {
			return io.ReadAll(tr)
		}
	}
}

// execIn runs cmd in a running container, feeding stdin (may be nil), and
// returns its combined output; a non-zero exit is an error with the output.
func execIn(ctx context.Context, d *Docker, ctr string, stdin io.Reader, cmd ...string) ([]byte, error) {
	var out bytes.Buffer
	err := execStream(ctx, d, ctr, stdin, &out, &out, cmd...)
	return out.Bytes(), err
}

// execStream runs cmd in a running container with stdin (may be nil) and
// its output demultiplexed into stdout and stderr. A non-zero exit is an
// error quoting stderr when it is a buffer.
func execStream(ctx context.Context, d *Docker, ctr string, stdin io.Reader, stdout, stderr io.Writer, cmd ...string) error {
	ex, err := d.ContainerExecCreate(ctx, ctr, container.ExecOptions{
		Cmd: cmd, AttachStdin: stdin != nil, AttachStdout: true, AttachStderr: true,
	})
	if err != nil {
		return fmt.Errorf("exec %v in %s: %w", cmd, ctr, err)
	}
	hj, err := d.ContainerExecAttach(ctx, ex.ID, container.ExecAttachOptions{})
	if err != nil {
		return fmt.Errorf("exec %v in %s: %w", cmd, ctr, err)
	}
	defer hj.Close()
	stop := context.AfterFunc(ctx, func() { hj.Close() })
	defer stop()
	werr := make(chan error, 1)
	go func() {
		if stdin == nil {
			werr <- nil
			return
		}
		_, err := io.Copy(hj.Conn, stdin)
		if cerr := hj.CloseWrite(); err == nil {
			err = cerr
		}
		werr <- err
	}()
	_, rerr := stdcopy.StdCopy(stdout, stderr, hj.Reader)
	hj.Close() // the command is done: unblock an input copy still writing
	if err := <-werr; err != nil && rerr == nil {
		rerr = fmt.Errorf("send input: %w", err)
	}
	if rerr != nil {
		return fmt.Errorf("exec %v in %s: %w", cmd, ctr, rerr)
	}
	insp, err := d.ContainerExecInspect(ctx, ex.ID)
	if err != nil {
		return fmt.Errorf("exec %v in %s: %w", cmd, ctr, err)
	}
	if insp.ExitCode != 0 {
		msg := ""
		if b, ok := stderr.(*bytes.Buffer); ok {
			msg = ": " + string(bytes.TrimSpace(b.Bytes()))
		}
		return fmt.Errorf("%v in %s exited with %d%s", cmd, ctr, insp.ExitCode, msg)
	}
	return nil
}

// demuxTo copies a multiplexed (non-TTY) container stream into w.
func demuxTo(w io.Writer, r io.Reader) error {
	_, err := stdcopy.StdCopy(w, w, r)
	return err
}

// contains reports whether err's message contains s.
func contains(err error, s string) bool { return err != nil && strings.Contains(err.Error(), s) }
