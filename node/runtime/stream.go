package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	dtypes "github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/pkg/stdcopy"
	"k8s.io/apimachinery/pkg/types"
)

// LogOptions select the lines of a container log, as kubectl logs does.
type LogOptions struct {
	Follow     bool
	TailLines  *int64
	Since      time.Time // zero: from the start
	Timestamps bool
}

// Logs writes a container's log (stdout and stderr together, as
// Kubernetes shows them) to w until it ends, or, with Follow, until the
// container stops or ctx ends.
func (r *Runtime) Logs(ctx context.Context, c *Container, o LogOptions, w io.Writer) error {
	lo := container.LogsOptions{ShowStdout: true, ShowStderr: true, Follow: o.Follow, Timestamps: o.Timestamps}
	if o.TailLines != nil {
		lo.Tail = strconv.FormatInt(*o.TailLines, 10)
	}
	if !o.Since.IsZero() {
		lo.Since = strconv.FormatInt(o.Since.Unix(), 10) + "." + fmt.Sprintf("%09d", o.Since.Nanosecond())
	}
	rc, err := r.dc.ContainerLogs(ctx, c.ID, lo)
	if err != nil {
		return fmt.Errorf("logs of container %s: %w", short(c.ID), err)
	}
	defer rc.Close()
	if c.Inspect.Config != nil && c.Inspect.Config.Tty {
		_, err = io.Copy(w, rc)
	} else {
		_, err = stdcopy.StdCopy(w, w, rc)
	}
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("logs of container %s: %w", short(c.ID), err)
	}
	return nil
}

// TermSize is a terminal size.
type TermSize struct{ Width, Height uint16 }

// StreamOptions are the streams of an exec or attach. A nil stream is not
// attached.
type StreamOptions struct {
	Tty    bool
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Resize <-chan TermSize
}

// Exec runs cmd in a running container and returns its exit code once it
// ends and its output has been copied.
func (r *Runtime) Exec(ctx context.Context, id string, cmd []string, o StreamOptions) (int, error) {
	ex, err := r.dc.ContainerExecCreate(ctx, id, container.ExecOptions{
		Cmd: cmd, Tty: o.Tty, AttachStdin: o.Stdin != nil, AttachStdout: o.Stdout != nil, AttachStderr: o.Stderr != nil,
	})
	if err != nil {
		return -1, fmt.Errorf("exec in container %s: %w", short(id), err)
	}
	hj, err := r.dc.ContainerExecAttach(ctx, ex.ID, container.ExecAttachOptions{Tty: o.Tty})
	if err != nil {
		return -1, fmt.Errorf("exec in container %s: attach: %w", short(id), err)
	}
	resize := func(s TermSize) error {
		return r.dc.ContainerExecResize(ctx, ex.ID, container.ResizeOptions{Width: uint(s.Width), Height: uint(s.Height)})
	}
	if err := pipe(ctx, hj, o, resize); err != nil {
		return -1, fmt.Errorf("exec in container %s: %w", short(id), err)
	}
	for i := 0; ; i++ {
		in, err := r.dc.ContainerExecInspect(ctx, ex.ID)
		if err != nil {
			return -1, fmt.Errorf("exec in container %s: %w", short(id), err)
		}
		if !in.Running {
			return in.ExitCode, nil
		}
		if i >= 100 {
			return -1, fmt.Errorf("exec in container %s: output ended but the process still runs after 5s", short(id))
		}
		select {
		case <-ctx.Done():
			return -1, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Attach connects the given streams to a running container's process until
// it exits, the input ends (for stdinOnce containers) or ctx ends.
func (r *Runtime) Attach(ctx context.Context, id string, o StreamOptions) error {
	hj, err := r.dc.ContainerAttach(ctx, id, container.AttachOptions{
		Stream: true, Stdin: o.Stdin != nil, Stdout: o.Stdout != nil, Stderr: o.Stderr != nil,
	})
	if err != nil {
		return fmt.Errorf("attach to container %s: %w", short(id), err)
	}
	resize := func(s TermSize) error {
		return r.dc.ContainerResize(ctx, id, container.ResizeOptions{Width: uint(s.Width), Height: uint(s.Height)})
	}
	if err := pipe(ctx, hj, o, resize); err != nil {
		return fmt.Errorf("attach to container %s: %w", short(id), err)
	}
	return nil
}

// pipe copies the streams over a hijacked Docker connection until the
// output ends; input EOF half-closes the connection.
func pipe(ctx context.Context, hj dtypes.HijackedResponse, o StreamOptions, resize func(TermSize) error) error {
	defer hj.Close()
	stop := context.AfterFunc(ctx, func() { hj.Close() })
	defer stop()
	if o.Stdin != nil {
		go func() {
			io.Copy(hj.Conn, o.Stdin)
			hj.CloseWrite()
		}()
	}
	if o.Resize != nil {
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case s, ok := <-o.Resize:
					if !ok {
						return
					}
					resize(s)
				}
			}
		}()
	}
	stdout, stderr := o.Stdout, o.Stderr
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	var err error
	if o.Tty {
		_, err = io.Copy(stdout, hj.Reader)
	} else {
		_, err = stdcopy.StdCopy(stdout, stderr, hj.Reader)
	}
	if err != nil && ctx.Err() == nil && !errors.Is(err, io.EOF) {
		return err
	}
	return ctx.Err()
}

// Watch calls fn with the pod UID of every container of this node that
// Docker reports started, stopped, OOM-killed or removed, until ctx ends.
// A broken event stream is reopened from where it broke.
func (r *Runtime) Watch(ctx context.Context, fn func(uid types.UID, action string)) {
	since := time.Now()
	for ctx.Err() == nil {
		f := filters.NewArgs(filters.Arg("type", string(events.ContainerEventType)),
			filters.Arg("label", LabelNode+"="+r.cfg.Node))
		for _, a := range []events.Action{events.ActionStart, events.ActionDie, events.ActionOOM, events.ActionDestroy} {
			f.Add("event", string(a))
		}
		msgs, errs := r.dc.Events(ctx, events.ListOptions{Filters: f, Since: strconv.FormatInt(since.Unix(), 10)})
	stream:
		for {
			select {
			case <-ctx.Done():
				return
			case m := <-msgs:
				since = time.Unix(0, m.TimeNano)
				if uid := m.Actor.Attributes[LabelPodUID]; uid != "" {
					fn(types.UID(uid), string(m.Action))
				}
			case err := <-errs:
				if ctx.Err() == nil {
					r.cfg.Logf("docker events: %v (reconnecting)", err)
				}
				break stream
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}
