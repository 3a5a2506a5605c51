package runtime

import (
	"time"

	"github.com/docker/docker/api/types/container"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Reasons of terminated containers, as the kubelet words them.
const (
	ReasonCompleted          = "Completed"
	ReasonError              = "Error"
	ReasonOOMKilled          = "OOMKilled"
	ReasonContainerCannotRun = "ContainerCannotRun"
	ReasonContainerCreating  = "ContainerCreating"
)

// ContainerID is the containerID a pod status reports: docker://<id>.
func ContainerID(id string) string { return "docker://" + id }

// ImageID is the imageID a pod status reports: docker://<image id>.
func (c *Container) ImageID() string {
	if c.Inspect.Image == "" {
		return ""
	}
	return "docker://" + c.Inspect.Image
}

// State turns Docker's state of a container into a Kubernetes container
// state: running; terminated with its exit code and a reason (OOMKilled
// when the kernel's OOM killer ended it, ContainerCannotRun when Docker
// could not start the process, else Completed for 0 and Error otherwise);
// or waiting (ContainerCreating) when it was created but never started.
func State(in *container.InspectResponse) corev1.ContainerState {
	s := in.State
	if s == nil {
		return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: ReasonContainerCreating}}
	}
	started, finished := dockerTime(s.StartedAt), dockerTime(s.FinishedAt)
	switch {
	case s.Running || s.Paused || s.Restarting:
		return corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: started}}
	case s.Status == container.StateExited || s.Status == container.StateDead || (s.Status == container.StateCreated && s.Error != ""):
		t := &corev1.ContainerStateTerminated{ExitCode: int32(s.ExitCode), StartedAt: started, FinishedAt: finished,
			ContainerID: ContainerID(in.ID)}
		switch {
		case s.OOMKilled:
			t.Reason = ReasonOOMKilled
			if t.ExitCode == 0 {
				t.ExitCode = 137
			}
		case s.Error != "":
			t.Reason, t.Message = ReasonContainerCannotRun, s.Error
			if t.ExitCode == 0 {
				t.ExitCode = 128
			}
		case s.ExitCode == 0:
			t.Reason = ReasonCompleted
		default:
			t.Reason = ReasonError
		}
		return corev1.ContainerState{Terminated: t}
	}
	return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: ReasonContainerCreating}}
}

// dockerTime parses Docker's RFC 3339 times, cut to the second as the API
// stores them; Docker's zero time ("0001-01-01T00:00:00Z") is the zero Time.
func dockerTime(s string) metav1.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.IsZero() || t.Year() <= 1 {
		return metav1.Time{}
	}
	return metav1.NewTime(t.Truncate(time.Second))
}

// StartedAt returns when the container last started (zero if never).
func (c *Container) StartedAt() time.Time {
	if c.Inspect.State == nil {
		return time.Time{}
	}
	return preciseTime(c.Inspect.State.StartedAt)
}

// ExitedAt returns when the container stopped, or, for one that failed to
// start, when it was created (zero while it runs).
func (c *Container) ExitedAt() time.Time {
	if !c.Finished() {
		return time.Time{}
	}
	if t := preciseTime(c.Inspect.State.FinishedAt); !t.IsZero() {
		return t
	}
	return preciseTime(c.Inspect.Created)
}

// ExitCode returns the exit code of a finished container (as State does).
func (c *Container) ExitCode() int32 {
	if t := State(c.Inspect).Terminated; t != nil {
		return t.ExitCode
	}
	return 0
}

func preciseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() <= 1 {
		return time.Time{}
	}
	return t
}
